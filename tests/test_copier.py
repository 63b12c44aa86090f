"""The questionnaire and what each answer renders; no generated project is installed here."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest
import yaml
from conftest import COMBINATIONS, REPO_ROOT, Render

ANSWER_KEYS = (
    "project_name",
    "project_slug",
    "package_name",
    "auth_mode",
    "authz_style",
    "database",
    "state_store",
)
DEFAULT_PACKAGE = "my_service"
SECRET_KEY_LINE = re.compile(r"^SECRET_KEY=(.*)$", re.MULTILINE)
JINJA_MARKERS = ("{{", "{%")
# Alembic's template is Mako (`${...}`), not Jinja, and is rendered by Alembic later.
NOT_JINJA_OUTPUT = {f"{DEFAULT_PACKAGE}/migrations/script.py.mako"}
# Vendored Swagger UI (no .jinja suffix: copied byte for byte); its bundle contains `{{`.
VENDORED = "static/swagger-ui"


def read_answers(project: Path) -> dict[str, Any]:
    answers: dict[str, Any] = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return answers


def text_files(project: Path) -> dict[str, str]:
    """Every rendered file by its path relative to the project."""
    return {
        path.relative_to(project).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(project.rglob("*"))
        if path.is_file()
    }


def secret_key(env_file: Path) -> str:
    match = SECRET_KEY_LINE.search(env_file.read_text())
    assert match, f"{env_file.name} has no SECRET_KEY= line"
    return match.group(1).strip()


@pytest.fixture(scope="session")
def default_project(render: Render, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project `copier copy --defaults` renders (jwt + roles), shared by read-only tests."""
    return render(tmp_path_factory.mktemp("defaults") / "project")


# --- (a) bad answers given with --data stop generation, naming the key -------------------

BAD_ANSWERS = [
    pytest.param("project_slug", "Bad Slug", "^[a-z][a-z0-9-]*$", id="slug-with-space"),
    pytest.param("package_name", "class", "keyword", id="package-keyword"),
    pytest.param("package_name", "1abc", "identifier", id="package-leading-digit"),
    pytest.param("package_name", "fastapi", "shadow", id="package-shadows-import"),
    pytest.param("auth_mode", "saml", "api_key", id="auth-mode-unknown"),
    pytest.param("authz_style", "acl", "abac", id="authz-style-unknown"),
    pytest.param("database", "mysql", "postgresql", id="database-unknown"),
    pytest.param("state_store", "memcached", "redis", id="state-store-unknown"),
]


@pytest.mark.parametrize(("key", "value", "allowed"), BAD_ANSWERS)
def test_bad_answer_stops_generation(
    key: str, value: str, allowed: str, render: Render, tmp_path: Path
) -> None:
    dst = tmp_path / "project"
    with pytest.raises(ValueError, match=re.escape(key)) as error:
        render(dst, **{key: value})
    message = str(error.value)
    assert allowed in message, f"{key}={value!r}: message does not say what is allowed: {message}"
    assert not (dst / "pyproject.toml").exists(), f"{key}={value!r} still rendered a project"


# --- (b) the same validators in an interactive session -------------------------------------

CLEAR_LINE = "\x15"  # Ctrl-U: prompt_toolkit discards the pre-filled default
MENU_PROMPTS = (
    "How do callers prove",
    "How is what a caller",
    "Where users, notes",
    "Where sessions",
    "How are access tokens signed",
)


def test_interactive_prompt_rejects_bad_answers_and_accepts_fixed_ones(tmp_path: Path) -> None:
    dst = tmp_path / "project"
    env = dict(os.environ, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "copier", "copy", "--vcs-ref", "HEAD", str(REPO_ROOT), str(dst)],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
    )
    try:
        child.expect("Human-readable name")
        child.send(f"{CLEAR_LINE}Acme Notes API\r")

        child.expect("Distribution name")
        child.send(f"{CLEAR_LINE}Bad Slug\r")
        child.expect(re.escape("project_slug must match ^[a-z][a-z0-9-]*$"))
        child.send(f"{CLEAR_LINE}acme-notes\r")

        child.expect("Python package name")
        child.send(f"{CLEAR_LINE}class\r")
        child.expect("package_name must not be a Python keyword")
        child.send(f"{CLEAR_LINE}acme_notes\r")

        # The remaining questions are menus of valid choices: take each default.
        for prompt in MENU_PROMPTS:
            child.expect(prompt)
            child.send("\r")
        child.expect(pexpect.EOF)
    except (pexpect.TIMEOUT, pexpect.EOF) as error:
        pytest.fail(
            f"interactive copier did not behave as expected ({type(error).__name__}); "
            f"last output:\n{child.before}",
            pytrace=False,
        )
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, f"copier exited with {child.exitstatus}:\n{child.before}"

    answers = read_answers(dst)
    assert answers["project_name"] == "Acme Notes API"
    assert answers["project_slug"] == "acme-notes"
    assert answers["package_name"] == "acme_notes"
    assert (dst / "acme_notes" / "main.py").is_file()


# --- (c) the answers file ------------------------------------------------------------------


def test_answers_file_records_source_commit_and_every_answer(default_project: Path) -> None:
    answers = read_answers(default_project)
    assert answers["_src_path"] == str(REPO_ROOT)
    assert answers.get("_commit"), "_commit is missing or empty"
    assert answers == {
        "_src_path": str(REPO_ROOT),
        "_commit": answers["_commit"],
        "project_name": "My Service",
        "project_slug": "my-service",
        "package_name": DEFAULT_PACKAGE,
        "auth_mode": "jwt",
        "authz_style": "roles",
        "database": "sqlite",
        "state_store": "database",
        "token_signing": "HS256",
    }


# --- (d) slug and package name derive from the project name --------------------------------


def test_slug_and_package_derive_from_project_name(render: Render, tmp_path: Path) -> None:
    project = render(tmp_path / "project", project_name="Acme Notes API")
    answers = read_answers(project)
    assert answers["project_slug"] == "acme-notes-api"
    assert answers["package_name"] == "acme_notes_api"
    assert (project / "acme_notes_api" / "main.py").is_file()
    assert 'name = "acme-notes-api"' in (project / "pyproject.toml").read_text()


# --- (e) only the chosen options are rendered ----------------------------------------------

# Path inside the package -> the (auth_mode, authz_style) pairs that render it.
OPTION_FILES = {
    "auth/tokens.py": lambda mode, style: mode in {"jwt", "oauth2"},
    "auth/sessions.py": lambda mode, style: mode == "session",
    "auth/api_keys.py": lambda mode, style: mode == "api_key",
    "api/api_keys.py": lambda mode, style: mode == "api_key",
    "api/tokens.py": lambda mode, style: mode in {"jwt", "oauth2"},
    "api/sessions.py": lambda mode, style: mode == "session",
    "auth/login.py": lambda mode, style: mode != "api_key",
    # One module name for every style: importers never change.
    "auth/permissions.py": lambda mode, style: True,
    # One migration branch per option (migrations/env.py): only the chosen ones.
    "migrations/versions/grants_0001_user_scopes.py": lambda mode, style: style == "scopes",
    "migrations/versions/roles_0001_user_roles.py": lambda mode, style: style != "scopes",
    "migrations/versions/tokens_0001_token_families.py": lambda mode, style: (
        mode in {"jwt", "oauth2"}
    ),
    "migrations/versions/sessions_0001_sessions.py": lambda mode, style: mode == "session",
    "migrations/versions/api_keys_0001_api_keys.py": lambda mode, style: mode == "api_key",
    "migrations/versions/logins_0001_login_failures.py": lambda mode, style: mode != "api_key",
    "tests/test_grants.py": lambda mode, style: style == "scopes",
    "tests/test_policy_agreement.py": lambda mode, style: style == "abac",
    "tests/test_logins.py": lambda mode, style: mode != "api_key",
    "static/docs-session.js": lambda mode, style: mode == "session",
}


@pytest.mark.parametrize(("auth_mode", "authz_style"), COMBINATIONS)
def test_only_selected_options_are_rendered(
    auth_mode: str, authz_style: str, render: Render, tmp_path: Path
) -> None:
    combination = f"{auth_mode}-{authz_style}"
    project = render(tmp_path / "project", auth_mode=auth_mode, authz_style=authz_style)
    files = text_files(project)
    package = project / DEFAULT_PACKAGE
    problems: list[str] = []

    for relative, expected in OPTION_FILES.items():
        base = project if relative.startswith("tests/") else package
        exists = (base / relative).is_file()
        if exists != expected(auth_mode, authz_style):
            problems.append(f"{DEFAULT_PACKAGE}/{relative} {'exists' if exists else 'is missing'}")

    has_pyjwt = "pyjwt" in files["pyproject.toml"].lower()
    if has_pyjwt != (auth_mode in {"jwt", "oauth2"}):
        problems.append(f"pyproject.toml {'lists' if has_pyjwt else 'lacks'} pyjwt")

    package_sources = {
        path: text
        for path, text in files.items()
        if path.startswith(f"{DEFAULT_PACKAGE}/") and path.endswith(".py")
    }
    if auth_mode in {"session", "api_key"}:
        problems += [
            f"{path} mentions {needle!r}"
            for path, text in package_sources.items()
            for needle in ("jwt", "PyJWT")
            if needle in text
        ]

    python_sources = {path: text for path, text in files.items() if path.endswith(".py")}
    for needle, mode, fold in (("csrf", "session", True), ("X-API-Key", "api_key", False)):
        mentioned_in = sorted(
            path
            for path, text in python_sources.items()
            if needle in (text.lower() if fold else text)
        )
        if auth_mode == mode and not mentioned_in:
            problems.append(f"no Python source mentions {needle!r}")
        if auth_mode != mode and mentioned_in:
            problems.append(f"{needle!r} appears in {', '.join(mentioned_in)}")

    for path, text in files.items():
        if any(marker in path for marker in JINJA_MARKERS) or path.endswith(".jinja"):
            problems.append(f"unrendered file name {path}")
        if path in NOT_JINJA_OUTPUT or path.startswith(f"{DEFAULT_PACKAGE}/{VENDORED}/"):
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if any(marker in line for marker in JINJA_MARKERS):
                problems.append(f"leftover Jinja in {path}:{number}: {line.strip()}")

    assert not problems, f"{combination}:\n  " + "\n  ".join(problems)


def test_vendored_swagger_ui_is_copied_byte_for_byte(default_project: Path) -> None:
    source = REPO_ROOT / "template" / "{{ package_name }}" / VENDORED
    rendered = default_project / DEFAULT_PACKAGE / VENDORED
    names = sorted(path.name for path in source.iterdir())
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"} <= set(names)
    changed = [
        name for name in names if (rendered / name).read_bytes() != (source / name).read_bytes()
    ]
    assert not changed, f"copier changed vendored files: {changed}"


# --- (f) a fresh secret per render, never committed ----------------------------------------


def test_env_file_holds_a_fresh_git_ignored_secret(
    default_project: Path, render: Render, tmp_path: Path
) -> None:
    env_file = default_project / ".env"
    assert env_file.is_file(), ".env was not rendered"
    ignored = (default_project / ".gitignore").read_text().splitlines()
    assert ".env" in (line.strip() for line in ignored), ".env is not in the rendered .gitignore"

    secret = secret_key(env_file)
    assert re.fullmatch(r"[0-9a-f]{64}", secret), f"SECRET_KEY is not 64 hex chars: {secret!r}"

    example_secret = secret_key(default_project / ".env.example")
    assert example_secret != secret, ".env reuses the placeholder of .env.example"

    other = render(tmp_path / "other")
    assert secret_key(other / ".env") != secret, "two renders produced the same SECRET_KEY"


# --- (g) api_key keeps no short-lived state: no state-store question, no Redis -------------


def test_api_key_is_not_asked_for_a_state_store_and_renders_no_redis(
    render: Render, tmp_path: Path
) -> None:
    """API keys are database records: Redis would hold nothing, so api_key never asks where
    short-lived state lives, renders no Redis (code, dependency, compose service, setting),
    and its readiness checks only the database. A `redis` answer given anyway (or stored by
    an older api_key project, read again by `copier update`) is dropped."""
    dst = tmp_path / "asked"
    env = dict(os.environ, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1")
    data = ["--data", "auth_mode=api_key", "--data", "project_name=Keys"]
    child = pexpect.spawn(
        sys.executable,
        ["-m", "copier", "copy", "--vcs-ref", "HEAD", *data, str(REPO_ROOT), str(dst)],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
    )
    try:
        for prompt in ("Distribution name", "Python package name", *MENU_PROMPTS[1:3]):
            child.expect(prompt)
            child.send("\r")
        child.expect(pexpect.EOF)
    except (pexpect.TIMEOUT, pexpect.EOF) as error:
        pytest.fail(f"api_key: copier ({type(error).__name__}); output:\n{child.before}")
    finally:
        child.close(force=True)
    assert MENU_PROMPTS[3] not in (child.before or ""), "api_key: the state store was asked"
    assert child.exitstatus == 0, f"copier exited with {child.exitstatus}:\n{child.before}"
    assert "state_store" not in read_answers(dst), f"api_key: stored {read_answers(dst)}"

    for database in ("sqlite", "postgresql"):
        project = render(
            tmp_path / database, auth_mode="api_key", database=database, state_store="redis"
        )
        label = f"api_key-{database}, state_store=redis given"
        assert "state_store" not in read_answers(project), f"{label}: the answer was stored"
        mentions = sorted(
            path
            for path, text in text_files(project).items()
            # The README may say why there is no Redis; nothing else names it.
            if not path.startswith(f"{DEFAULT_PACKAGE}/{VENDORED}/")
            and path != "README.md"
            and "redis" in text.lower()
        )
        assert not mentions, f"{label}: Redis appears in {mentions}"
        assert (project / DEFAULT_PACKAGE / "state" / "tables.py").is_file(), label
        health = (project / DEFAULT_PACKAGE / "api" / "health.py").read_text()
        assert "database" in health, f"{label}: readiness does not check the database"
