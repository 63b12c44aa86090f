"""A conflict between the user's edit and the template's change is never resolved silently.

The user and a newer template version change the same line of a generated file. `copier
update` must leave both sides visible: inline conflict markers by default (`--conflict
inline`), or, with `--conflict rej`, the template's version of the file and the user's
change that did not apply in a `*.rej` file next to it. The project's own
`tests/test_no_conflict_markers.py` then fails, naming the file and line, until the
conflict is resolved.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import copier
import pytest
from template_releases import git, template_checkout

USER_TITLE = "# Acme's own title, edited after generation"
TEMPLATE_TITLE = "# {{ project_name }}, as a newer template version titles it"
NEW_TITLE = "# My Service, as a newer template version titles it"
CHECK = "tests/test_no_conflict_markers.py"


def replace_first_line(path: Path, line: str) -> None:
    rest = path.read_text().split("\n", 1)[1]
    path.write_text(f"{line}\n{rest}")


def run_project_check(project: Path) -> subprocess.CompletedProcess[str]:
    """The generated conflict check, with this repository's pytest (it needs nothing else).

    The project's `addopts` asks for `--cov`, a plugin of the project's own venv; this
    repository's pytest runs the one check without them (`-o addopts=`).
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [
            sys.executable,
            *("-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider", "--noconftest"),
            CHECK,
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("conflict", ["inline", "rej"])
def test_conflicting_edit_stays_visible(tmp_path: Path, conflict: str) -> None:
    template = template_checkout(tmp_path / "template")
    project = tmp_path / "project"
    copier.run_copy(str(template), project, defaults=True, vcs_ref="HEAD", quiet=True)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "generated")
    passed = run_project_check(project)
    assert passed.returncode == 0, f"a fresh project fails {CHECK}:\n{passed.stdout}"

    readme = project / "README.md"
    replace_first_line(readme, USER_TITLE)
    git(project, "commit", "-q", "-am", "local title")
    # A newer template version changes the same line.
    replace_first_line(template / "template" / "README.md.jinja", TEMPLATE_TITLE)
    git(template, "commit", "-q", "-am", "a newer template version changes the title")

    copier.run_update(
        project,
        vcs_ref="HEAD",
        defaults=True,
        overwrite=True,
        quiet=True,
        unsafe=False,
        **({} if conflict == "inline" else {"conflict": conflict}),
    )

    text = readme.read_text()
    lines = text.splitlines()
    if conflict == "inline":
        starts = [n for n, line in enumerate(lines, 1) if line.startswith("<" * 7 + " ")]
        assert starts, f"no inline conflict in README.md:\n{text[:800]}"
        assert "=" * 7 in lines, f"no `=======` separator in README.md:\n{text[:800]}"
        assert any(line.startswith(">" * 7 + " ") for line in lines), text[:800]
        assert USER_TITLE in lines, "the user's side of the conflict is missing"
        assert NEW_TITLE in lines, "the template's side of the conflict is missing"
        expected = f"README.md:{starts[0]}: conflict marker"
    else:
        # copier renders the new version, then applies the user's changes: the one that
        # does not apply is kept, not dropped, in README.md.rej.
        assert lines[0] == NEW_TITLE, f"README.md lacks the template's change:\n{text[:800]}"
        rejected = project / "README.md.rej"
        assert rejected.is_file(), f"no README.md.rej: {sorted(p.name for p in project.iterdir())}"
        assert f"+{USER_TITLE}" in rejected.read_text(), "the user's change is not in the .rej"
        expected = "README.md.rej: a rejected change"

    failed = run_project_check(project)
    assert failed.returncode == 1, f"{CHECK} passed with the conflict unresolved:\n{failed.stdout}"
    assert expected in failed.stdout, f"{CHECK} does not name {expected!r}:\n{failed.stdout}"

    # Resolved (here the user's side is kept), the *.rej file deleted: the check passes.
    git(project, "checkout", "HEAD", "--", "README.md")
    (project / "README.md.rej").unlink(missing_ok=True)
    passed = run_project_check(project)
    assert passed.returncode == 0, f"{CHECK} fails after the conflict is resolved:\n{passed.stdout}"
