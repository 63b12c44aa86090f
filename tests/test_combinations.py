"""Each auth_mode x authz_style combination: render it, run its checks as its README says."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
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


# Four combinations also run their whole suite on PostgreSQL (below). api_key keeps its
# state in the database whatever the state store (it renders no Redis), so its full suite
# runs on PostgreSQL + the database store.
FULL_SUITE_ON_SERVERS = [
    ("jwt", "scopes", "redis"),
    ("oauth2", "abac", "redis"),
    ("session", "roles", "redis"),
    ("api_key", "scopes", "database"),
]
# Coverage is measured once per combination: the generated suite under coverage takes twice
# the CPU of the same suite without it (measured: 146 s against 73 s). These four measure
# theirs, gate included, in their PostgreSQL run, which covers the server code as well; their
# SQLite run is the same suite without coverage. The eight others, on SQLite, keep the
# SQLite code under the gate. Without the servers (outside .ci/run) SQLite measures all twelve.
COVERED_ON_SERVERS = {
    (auth_mode, authz_style) for auth_mode, authz_style, _ in FULL_SUITE_ON_SERVERS
}
STEPS_WITHOUT_COVERAGE = [
    (step, [*args, "--no-cov"] if step == "tests" else args) for step, args in STEPS
]


def servers_started() -> bool:
    return bool(os.environ.get("TEST_POSTGRES_URL") and os.environ.get("TEST_REDIS_URL"))


def run_steps(
    label: str,
    project: Path,
    env: Mapping[str, str],
    steps: list[tuple[str, list[str]]] = STEPS,
) -> dict[str, str]:
    """Run `steps` in the rendered `project`; the first that fails fails the test. The
    standard output of each."""
    outputs: dict[str, str] = {}
    for step, args in steps:
        outputs[step] = run_step(
            f"{label} [{step}]",
            args,
            cwd=project,
            env=env,
            exit_meanings=PYTEST_EXIT_MEANINGS if step == "tests" else None,
        ).stdout
    return outputs


def coverage_of(pytest_output: str) -> str:
    """pytest-cov's total, as the generated suite printed it ("96.19%")."""
    found = re.search(r"Total coverage: ([\d.]+%)", pytest_output)
    return found.group(1) if found else "not reported"


# scripts/bench.py, briefly: it starts the real server, signs in, loads both routes and
# runs its login storm. Speed is measured by the script, never asserted here; this only
# shows that the script works for the combination (its code varies with auth_mode and
# the state store, not with authz_style).
BENCH = [
    *["uv", "run", "python", "scripts/bench.py", "--json"],
    *["--seconds", "1", "--rounds", "1", "--storm-seconds", "1", "--load", "asyncio"],
]
BENCH_FIELDS = {"health_rps", "me_rps", "ratio", "me_p99_ms_quiet"}


def run_bench(label: str, project: Path, env: Mapping[str, str]) -> str:
    """The bench's figures, briefly measured: only that they came is checked."""
    result = run_step(f"{label} [bench]", BENCH, cwd=project, env=env, timeout=300)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report.keys() >= BENCH_FIELDS, f"{label} [bench]: {report}"
    assert report["me_rps"] > 0, f"{label} [bench]: {report}"
    return ", ".join(f"{key} {report[key]}" for key in sorted(BENCH_FIELDS))


def scratch_postgres_database(base_url: str, name: str) -> str:
    """A new, empty database on the test server (psql comes with the server's package)."""
    psql = shutil.which("psql")
    if psql is None:
        pytest.fail("psql not found: .ci/run installs PostgreSQL with its client", pytrace=False)
    subprocess.run(
        [
            psql,
            base_url,
            "-qc",
            f'DROP DATABASE IF EXISTS "{name}"',
            "-c",
            f'CREATE DATABASE "{name}"',
        ],
        check=True,
        capture_output=True,
    )
    return f"{base_url.rsplit('/', 1)[0]}/{name}"


@pytest.mark.combination
@pytest.mark.parametrize(("auth_mode", "authz_style"), COMBINATIONS)
def test_combination(
    auth_mode: str,
    authz_style: str,
    render: Render,
    project_env: Mapping[str, str],
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    combination = f"{auth_mode}-{authz_style}"
    try:
        project = render(tmp_path / combination, auth_mode=auth_mode, authz_style=authz_style)
    except Exception as error:  # any render failure is this combination's failure
        pytest.fail(f"{combination} [render]: {type(error).__name__}: {error}", pytrace=False)
    if (auth_mode, authz_style) in COVERED_ON_SERVERS and servers_started():
        run_steps(combination, project, project_env, STEPS_WITHOUT_COVERAGE)
    else:
        outputs = run_steps(combination, project, project_env)
        record_property("summary", ("coverage", combination, coverage_of(outputs["tests"])))
    if authz_style == "roles":
        figures = run_bench(combination, project, project_env)
        record_property("summary", ("bench", combination, figures))


# The two other pairings run their checks and the tests of what they change (two instances,
# outages, races, logins), not the rest of the suite that the combinations above run; being a
# part of the suite, without its coverage gate.
PAIRING_STEPS = [
    *[(step, args) for step, args in STEPS if step != "tests"],
    (
        "tests",
        [
            *["uv", "run", "pytest", "-q", "-p", "no:cacheprovider", "--no-cov"],
            "tests/test_instances.py",
            "tests/test_outages.py",
            "tests/test_logins.py",
            "tests/security/test_races.py",
            "tests/test_app.py",
        ],
    ),
]
# Every auth mode's whole generated suite, security tests included, on PostgreSQL + Redis,
# and the two other pairings, on the servers that .ci/run starts on 127.0.0.1
# (TEST_POSTGRES_URL, TEST_REDIS_URL).
SERVER_COMBINATIONS = [
    *(
        pytest.param(
            auth_mode,
            authz_style,
            "postgresql",
            state_store,
            STEPS,
            id=f"{auth_mode}-{authz_style}-pg-{state_store}",
            # The longest tests of the run: conftest schedules them first.
            marks=pytest.mark.full_suite,
        )
        for auth_mode, authz_style, state_store in FULL_SUITE_ON_SERVERS
    ),
    pytest.param(
        "session", "abac", "postgresql", "database", PAIRING_STEPS, id="session-abac-pg-database"
    ),
    pytest.param(
        "oauth2", "roles", "sqlite", "redis", PAIRING_STEPS, id="oauth2-roles-sqlite-redis"
    ),
]


def server_env(database: str, state_store: str, env: Mapping[str, str]) -> dict[str, str]:
    """The project's environment with DATABASE_URL and REDIS_URL naming the test servers."""
    wanted = {"postgresql": "TEST_POSTGRES_URL"} if database == "postgresql" else {}
    if state_store == "redis":
        wanted["redis"] = "TEST_REDIS_URL"
    missing = [name for name in wanted.values() if not os.environ.get(name)]
    if missing:
        message = (
            f"{', '.join(missing)} not set: run the suite through .ci/run, which starts the servers"
        )
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    servers = dict(env)
    if database == "postgresql":
        servers["DATABASE_URL"] = os.environ["TEST_POSTGRES_URL"]
    if state_store == "redis":
        servers["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
    return servers


@pytest.mark.combination
@pytest.mark.parametrize(
    ("auth_mode", "authz_style", "database", "state_store", "steps"), SERVER_COMBINATIONS
)
def test_combination_on_servers(
    auth_mode: str,
    authz_style: str,
    database: str,
    state_store: str,
    steps: list[tuple[str, list[str]]],
    render: Render,
    project_env: Mapping[str, str],
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    combination = f"{auth_mode}-{authz_style}-{database}-{state_store}"
    env = server_env(database, state_store, project_env)
    project = render(
        tmp_path / combination,
        auth_mode=auth_mode,
        authz_style=authz_style,
        database=database,
        state_store=state_store,
    )
    outputs = run_steps(combination, project, env, steps)
    if steps is STEPS:
        record_property("summary", ("coverage", combination, coverage_of(outputs["tests"])))
    bench_env = dict(env)
    if database == "postgresql":
        bench_name = f"bench_{combination}".replace("-", "_")
        bench_env["DATABASE_URL"] = scratch_postgres_database(env["DATABASE_URL"], bench_name)
    record_property("summary", ("bench", combination, run_bench(combination, project, bench_env)))
