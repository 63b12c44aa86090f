"""The rendered `.env` holds SECRET_KEY (and with PostgreSQL, POSTGRES_PASSWORD): it is
readable by its owner only from the README's first command on.

copier gives a rendered file its template's mode, and git records only 0644 or 0755, so no
answer can render `.env` private (and `_tasks` are not used). The service closes it instead,
the first time it reads its settings: the README's first command does that.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path

from conftest import Render, run_step

FIRST_COMMAND = "uv run python -m my_service db upgrade"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_env_file_is_private_from_the_readmes_first_command(
    render: Render, tmp_path: Path, project_env: Mapping[str, str]
) -> None:
    project = render(tmp_path / "p")
    env_file = project / ".env"
    assert "SECRET_KEY=" in env_file.read_text()
    rendered = mode_of(env_file)
    readme = (project / "README.md").read_text()
    assert FIRST_COMMAND in readme, f"the README no longer starts with `{FIRST_COMMAND}`"

    result = run_step("the README's first command", FIRST_COMMAND.split(), project, project_env)

    assert mode_of(env_file) == 0o600, (
        f".env is {mode_of(env_file):04o} after `{FIRST_COMMAND}` (rendered {rendered:04o})"
    )
    if rendered & 0o077:
        assert ".env was readable by other users" in result.stderr, result.stderr
