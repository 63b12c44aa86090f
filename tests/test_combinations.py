"""Each auth_mode x authz_style combination: render it, run its checks as its README says."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from conftest import COMBINATIONS, Render, run_step

# The generated project's set-up and checks, in the order its README gives them.
STEPS: list[tuple[str, list[str]]] = [
    ("install", ["uv", "sync"]),
    ("lint", ["uv", "run", "ruff", "check", "."]),
    ("format", ["uv", "run", "ruff", "format", "--check", "."]),
    ("types", ["uv", "run", "mypy"]),
    ("tests", ["uv", "run", "pytest", "-q", "-p", "no:cacheprovider"]),
]

# pytest's exit code 5 means it collected nothing: a combination without tests fails.
PYTEST_EXIT_MEANINGS = {
    1: "generated tests failed",
    5: "no tests collected: a combination without tests fails",
}


@pytest.mark.combination
@pytest.mark.parametrize(("auth_mode", "authz_style"), COMBINATIONS)
def test_combination(
    auth_mode: str,
    authz_style: str,
    render: Render,
    project_env: Mapping[str, str],
    tmp_path: Path,
) -> None:
    combination = f"{auth_mode}-{authz_style}"
    try:
        project = render(tmp_path / combination, auth_mode=auth_mode, authz_style=authz_style)
    except Exception as error:  # any render failure is this combination's failure
        pytest.fail(f"{combination} [render]: {type(error).__name__}: {error}", pytrace=False)

    for step, args in STEPS:
        run_step(
            f"{combination} [{step}]",
            args,
            cwd=project,
            env=project_env,
            exit_meanings=PYTEST_EXIT_MEANINGS if step == "tests" else None,
        )
