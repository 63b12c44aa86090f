"""The generated project's own CI workflow and pre-commit hooks: they parse, and the
workflow runs exactly the checks its README prescribes (the steps of test_combinations)."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import Render
from test_combinations import STEPS


def test_the_workflow_runs_the_readme_checks_and_the_hooks_parse(
    render: Render, tmp_path: Path
) -> None:
    project = render(tmp_path / "project")
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    steps = workflow["jobs"]["checks"]["steps"]
    commands = [step["run"] for step in steps if "run" in step]
    assert commands == [" ".join(args) for _, args in STEPS], (
        f"the workflow's commands {commands} are not the README's checks"
    )
    readme = (project / "README.md").read_text()
    for command in ("uv run ruff check .", "uv run ruff format --check .", "uv run mypy"):
        assert command in readme, f"the README does not give {command!r}"

    hooks = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    ids = [hook["id"] for repo in hooks["repos"] for hook in repo["hooks"]]
    assert ids == ["ruff", "ruff-format", "mypy"], f".pre-commit-config.yaml hooks: {ids}"
