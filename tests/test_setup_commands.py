"""What a new user runs first: the closing message, the README's set-up line, the dev tools.

The set-up must be safe to run twice and must never put a password on the command line;
the checks the README prescribes must not depend on the day the project was rendered.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path

import copier
import pytest
from conftest import COMBINATIONS, REPO_ROOT, Render, run_step, tail

SERVE = " && uv run fastapi dev"
SET_UP_PASSWORD = "a long set-up passphrase"  # noqa: S105 - typed at the prompt
# A dev-group entry pinned to one version: `name==1.2.3` (extras allowed).
PINNED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[a-z0-9,_-]+\])?==[0-9][0-9A-Za-z.+-]*")


def code_lines(markdown: str) -> list[str]:
    """The lines inside the fenced code blocks of `markdown`."""
    lines, inside = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line)
    return lines


def fenced(markdown: str, language: str) -> list[list[str]]:
    """The lines of each ```language block of `markdown` (indented blocks included)."""
    blocks: list[list[str]] = []
    inside = False
    for line in markdown.splitlines():
        stripped = line.strip()
        if inside and stripped.startswith("```"):
            inside = False
        elif inside:
            blocks[-1].append(stripped)
        elif stripped == f"```{language}":
            inside = True
            blocks.append([])
    return blocks


def section(readme: str, title: str) -> str:
    return readme.split(f"\n{title}\n", 1)[1].split("\n## ", 1)[0]


def set_up_line(readme: str) -> str:
    section = readme.split("## Set up and run", 1)[1].split("\n## ", 1)[0]
    [line] = [line for line in code_lines(section) if line.strip()]
    return line


@pytest.mark.parametrize(("auth_mode", "authz_style"), COMBINATIONS)
def test_readme_commands_never_take_a_password_on_the_command_line(
    render: Render, tmp_path: Path, auth_mode: str, authz_style: str
) -> None:
    label = f"{auth_mode} + {authz_style}"
    project = render(tmp_path / "p", auth_mode=auth_mode, authz_style=authz_style)
    readme = (project / "README.md").read_text()
    # Commands in code blocks and in `inline code`; the prose may name the option.
    commands = code_lines(readme) + re.findall(r"`([^`\n]*python -m [^`\n]*)`", readme)
    with_password = [command for command in commands if "--password" in command]
    assert not with_password, f"[{label}] README passes a password in argv: {with_password}"
    line = set_up_line(readme)
    assert "users create admin" in line, f"[{label}] {line}"
    assert "--if-missing" in line, f"[{label}] the set-up line must be safe to run twice: {line}"


def test_the_closing_message_asks_for_the_password(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    copier.run_copy(
        src_path=str(REPO_ROOT),
        dst_path=tmp_path / "p",
        defaults=True,
        vcs_ref="HEAD",
        quiet=False,
        unsafe=False,
    )
    out, err = capfd.readouterr()
    message = (out + err).split("is ready in", 1)[1]
    commands = [line.strip() for line in message.splitlines() if "uv run" in line]
    create = [command for command in commands if "users create" in command]
    assert create, f"the closing message shows no `users create`: {message}"
    assert all("--if-missing" in command for command in create), create
    with_password = [command for command in commands if "--password" in command]
    assert not with_password, f"the closing message passes a password in argv: {with_password}"


def run_printed(command: str, project: Path, env: Mapping[str, str], stdin: str = "") -> str:
    """A README command through bash, exactly as printed; fails the test unless it exits 0.
    `stdin` answers the CLI's prompts (it reads a password from a pipe)."""
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=project,
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (
        f"`{command}` exited with {result.returncode}\n{tail(result.stdout)}\n{tail(result.stderr)}"
    )
    return result.stdout


def run_set_up(command: str, project: Path, env: Mapping[str, str]) -> str:
    return run_printed(command, project, env, stdin=f"{SET_UP_PASSWORD}\n")


def test_the_readme_set_up_line_can_run_twice(
    render: Render, tmp_path: Path, project_env: Mapping[str, str]
) -> None:
    project = render(tmp_path / "p")
    line = set_up_line((project / "README.md").read_text())
    assert line.endswith(SERVE), f"the set-up line should end by serving the API: {line}"
    command = line.removesuffix(SERVE)
    first = run_set_up(command, project, project_env)
    assert "created admin 'admin'" in first, first
    second = run_set_up(command, project, project_env)
    assert "already exists; left unchanged" in second, second


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_dev_tools_are_pinned_and_include_xdist(
    render: Render, tmp_path: Path, database: str
) -> None:
    project = render(tmp_path / "p", database=database)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    dev: list[str] = pyproject["dependency-groups"]["dev"]
    loose = [entry for entry in dev if not PINNED.fullmatch(entry)]
    assert not loose, f"pin these dev tools to the versions the template was tested with: {loose}"
    names = {re.split(r"[\[=]", entry)[0] for entry in dev}
    assert {"pytest", "pytest-xdist", "ruff", "mypy"} <= names, names


# A column the README's reader adds to the Note model before making a migration.
NEW_COLUMN = (
    '    body: Mapped[str] = mapped_column(Text, default="", server_default="")\n',
    "    colour: Mapped[str | None] = mapped_column(String(20), default=None)\n",
)
CORE_FILE = re.compile(r"^v(\d{4})_.*\.py$")


def newest_core(versions: Path) -> int:
    return max(int(m[1]) for path in versions.iterdir() if (m := CORE_FILE.match(path.name)))


def test_the_readme_migration_commands_run_as_printed(
    render: Render, tmp_path: Path, project_env: Mapping[str, str]
) -> None:
    """Issue 21 item 1: the printed `alembic revision --autogenerate -m ...` failed in every
    project ("Multiple heads are present"): each answer adds a branch of its own. The
    README's commands, run as a user types them after adding a column to `Note`, write a
    numbered revision on core that passes ruff, and `db upgrade` applies it."""
    project = render(tmp_path / "p", auth_mode="jwt", authz_style="scopes")
    package = "my_service"
    readme = (project / "README.md").read_text()
    migrations = section(readme, "## Migrations").split("### Switching answers")[0]
    [block] = fenced(migrations, "bash")
    revision_commands = [line for line in block if " db revision " in line]
    assert len(revision_commands) == 1, f"the Migrations block should make one revision: {block}"
    # Every other place of the README that prints a `db revision` prints one of these.
    empty = f'uv run python -m {package} db revision --empty "grant notes:export"'
    printed = set(re.findall(r"`(uv run [^`]*db revision[^`]*)`", readme))
    assert printed <= {*revision_commands, empty}, printed
    assert empty in printed, f"the scopes README's data migration is not `{empty}`"
    assert "uv run alembic" not in readme, "the README still prints an `alembic` command"

    run_step("uv sync", ["uv", "sync"], project, project_env)
    models = project / package / "models.py"
    source = models.read_text()
    assert NEW_COLUMN[0] in source, "Note.body changed: update NEW_COLUMN"
    versions = project / package / "migrations" / "versions"
    newest = newest_core(versions)
    new = f"{newest + 1:04d}"
    outputs = []
    for command in block:
        if command == revision_commands[0]:
            models.write_text(source.replace(NEW_COLUMN[0], "".join(NEW_COLUMN), 1))
        outputs.append(run_printed(command, project, project_env))

    [written] = [path for path in versions.iterdir() if path.name.startswith(f"v{new}_")]
    assert f"wrote {package}/migrations/versions/{written.name}" in outputs[1], outputs[1]
    text = written.read_text()
    assert f'revision: str = "{new}"' in text, text
    assert f'down_revision: str | None = "{newest:04d}"' in text, f"not on core:\n{text}"
    assert '"colour"' in text, text
    for check in (["check"], ["format", "--check"]):
        label = f"ruff {check[0]} {written.name}"
        run_step(label, ["uv", "run", "ruff", *check, str(written)], project, project_env)
    assert f"applied {new}: " in outputs[2], outputs[2]

    # The data migration of "Adding a scope", as printed: the next number, empty, on core.
    output = run_printed(empty, project, project_env)
    data = f"v{newest + 2:04d}_grant_notes_export.py"
    assert f"wrote {package}/migrations/versions/{data}" in output, output
    assert f'down_revision: str | None = "{new}"' in (versions / data).read_text()
    applied = run_printed(f"uv run python -m {package} db upgrade", project, project_env)
    assert f"applied {newest + 2:04d}: grant notes:export" in applied, applied
