"""Shared helpers of the template's own tests: render the template, run a rendered project."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import copier
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

AUTH_MODES = ("api_key", "jwt", "oauth2", "session")
AUTHZ_STYLES = ("roles", "scopes", "abac")
COMBINATIONS = [
    pytest.param(auth_mode, authz_style, id=f"{auth_mode}-{authz_style}")
    for auth_mode, authz_style in itertools.product(AUTH_MODES, AUTHZ_STYLES)
]

TAIL_LINES = 80

Render = Callable[..., Path]


def render_template(dst: Path, **data: Any) -> Path:
    """Render the template into `dst` with `data`; every other answer takes its default.

    `vcs_ref="HEAD"` makes copier render the working tree, uncommitted changes included,
    so the tests see what a developer is about to commit.
    """
    copier.run_copy(
        src_path=str(REPO_ROOT),
        dst_path=dst,
        data=data,
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
        unsafe=False,
    )
    return dst


@pytest.fixture(scope="session")
def render() -> Render:
    return render_template


def _project_env() -> dict[str, str]:
    env = dict(os.environ)
    # One download and build cache for every rendered project of the run (and of later runs).
    env.setdefault("UV_CACHE_DIR", str(REPO_ROOT / ".cache" / "uv"))
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_NO_PROGRESS"] = "1"
    # One mypy cache per pytest-xdist worker, kept across tests and runs: every rendered
    # project type-checks the same third-party packages (FastAPI, SQLAlchemy, pydantic...),
    # which cost ~11 s of CPU a project when cold and nothing when cached. mypy still
    # re-checks every module whose content differs (it compares hashes), so a cache made by
    # another combination never hides an error. Per worker: two mypy runs never write it at once.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    env.setdefault("MYPY_CACHE_DIR", str(REPO_ROOT / ".cache" / f"mypy-{worker}"))
    # `uv run pytest` at the root activates the root venv; a rendered project must use its
    # own .venv, never the root one.
    for name in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="session")
def project_env() -> Mapping[str, str]:
    """Environment in which commands of a rendered project run."""
    return _project_env()


def tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def run_step(
    label: str,
    args: list[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout: float = 1200,
    exit_meanings: Mapping[int, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one command of a rendered project; fail the test naming `label` when it fails.

    Any non-zero exit fails; `exit_meanings` only adds an explanation to the message.
    """
    try:
        result = subprocess.run(
            args,
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        output = "\n".join(
            part.decode(errors="replace") if isinstance(part, bytes) else (part or "")
            for part in (error.stdout, error.stderr)
        )
        pytest.fail(
            f"{label}: `{' '.join(args)}` timed out after {timeout:.0f} s\n{tail(output)}",
            pytrace=False,
        )
    if result.returncode != 0:
        meaning = (exit_meanings or {}).get(result.returncode)
        pytest.fail(
            f"{label}: `{' '.join(args)}` exited with {result.returncode}"
            f"{f' ({meaning})' if meaning else ''}\n"
            f"--- stdout (last {TAIL_LINES} lines) ---\n{tail(result.stdout)}\n"
            f"--- stderr (last {TAIL_LINES} lines) ---\n{tail(result.stderr)}",
            pytrace=False,
        )
    return result


SERVER_START_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def served(project: Path, env: Mapping[str, str], label: str) -> Iterator[str]:
    """The rendered project's app under `fastapi run` on a free loopback port, answering
    `/health`, until the block ends; its output goes to `server.log` in the project."""
    port = free_port()
    log = project / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            ["uv", "run", "fastapi", "run", "--host", "127.0.0.1", "--port", str(port)],
            cwd=project,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            # Its own process group: stopping it stops uv and the server uv started.
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if server.poll() is not None:
                pytest.fail(
                    f"{label}: the server exited with {server.returncode}:\n{log.read_text()}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                waited = f"no answer at /health in {SERVER_START_SECONDS} s"
                pytest.fail(f"{label}: {waited}:\n{log.read_text()}", pytrace=False)
            try:
                # The service's own loopback address, always http.
                with urllib.request.urlopen(f"{base_url}/health", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)  # polling a starting process
        yield base_url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# --- the order the run takes -------------------------------------------------------------
# .ci/run runs the suite on two pytest-xdist workers with `--dist worksteal`: each worker
# gets half of the collection in order, and an idle worker takes the tail of the other's
# queue. The longest tests go first, alternately into each half, so both workers start
# with a long one and the short ones left at the end fill the gaps (longest processing time
# first). Approximate seconds of one test on this 2-core machine, by test function; the
# 4 full generated suites on PostgreSQL + Redis are the longest.
HEAVY_SECONDS: dict[str, float] = {
    "test_combination_on_servers[full]": 400,
    "test_combination": 220,
    "test_combination_on_servers": 120,
    "test_jwt_to_session_then_roles_to_scopes_and_back": 150,
    "test_api_key_to_jwt": 100,
    "test_update_from_latest_release": 120,
    "test_swagger_ui_signs_in_and_calls_the_api": 90,
    "test_a_generated_client_logs_in_calls_is_refused_and_logs_out": 60,
    "test_containers_run_the_readme_commands_without_secrets": 60,
    "test_the_readme_migration_commands_run_as_printed": 60,
    "test_update_keeps_local_edits_and_switches_answers": 40,
}


def expected_seconds(item: pytest.Item) -> float:
    name = getattr(item, "originalname", item.name)
    if item.get_closest_marker("full_suite"):
        name = "test_combination_on_servers[full]"
    return HEAVY_SECONDS.get(name, 0.0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if workers < 2:
        return
    # Deterministic (every worker must collect the same order): stable sort, longest first.
    ranked = sorted(items, key=lambda item: -expected_seconds(item))
    heavy = [item for item in ranked if expected_seconds(item) > 0]
    light = [item for item in ranked if expected_seconds(item) == 0]
    # worksteal hands worker k the k-th contiguous slice: deal the heavy tests round-robin
    # into the slices, then the light ones, so each slice is long tests first, short last.
    slices: list[list[pytest.Item]] = [[] for _ in range(workers)]
    for index, item in enumerate(heavy + light):
        slices[index % workers].append(item)
    items[:] = [item for part in slices for item in part]


# --- what the run measured, printed at its end --------------------------------------------
# Tests record figures with `record_property("summary", (kind, label, value))`: each
# combination's coverage, each mode's screenshots, each bench run. pytest-xdist carries
# them from the workers with the test reports.


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    rows: list[tuple[str, str, str]] = []
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get(
        "failed", []
    ):
        for name, value in getattr(report, "user_properties", []):
            if name == "summary" and report.when == "call":
                rows.append(tuple(value))
    if not rows:
        return
    terminalreporter.section("measured in this run")
    for kind, label, value in sorted(rows):
        terminalreporter.write_line(f"{kind:<10} {label:<40} {value}")
