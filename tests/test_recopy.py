"""`copier recopy` rebuilds a broken project from its answers file alone.

`vcs_ref="HEAD"` recopies the template's newest commit; `:current:` (copier.VcsRef.CURRENT)
recopies the release the project records in `_commit`, even when a newer one exists.
"""

from __future__ import annotations

from pathlib import Path

import copier
import pytest
from copier import VcsRef
from template_releases import git, template_checkout

ANSWERS = {"project_name": "Acme Notes", "auth_mode": "session", "authz_style": "abac"}
PACKAGE = "acme_notes"  # derived from project_name
DELETED = [
    "README.md",
    "pyproject.toml",
    f"{PACKAGE}/auth/sessions.py",
    f"{PACKAGE}/auth/permissions.py",
    f"{PACKAGE}/migrations/env.py",
    "tests/test_sessions.py",
]
DAMAGED = f"{PACKAGE}/main.py"
USER_FILE = "docs/runbook.md"


@pytest.mark.parametrize("vcs_ref", ["HEAD", VcsRef.CURRENT], ids=["HEAD", "current"])
def test_recopy_restores_files_and_keeps_answers(tmp_path: Path, vcs_ref: str | VcsRef) -> None:
    template = template_checkout(tmp_path / "template")
    project = tmp_path / "project"
    copier.run_copy(str(template), project, data=ANSWERS, defaults=True, vcs_ref="HEAD", quiet=True)
    answers = (project / ".copier-answers.yml").read_text()
    secret = (project / ".env").read_text()
    originals = {name: (project / name).read_text() for name in [*DELETED, DAMAGED]}
    (project / USER_FILE).parent.mkdir()
    (project / USER_FILE).write_text("# Runbook\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "generated")

    for name in DELETED:
        (project / name).unlink()
    (project / DAMAGED).write_text("this is not Python\n")
    git(project, "commit", "-q", "-am", "a broken project")
    if vcs_ref is VcsRef.CURRENT:
        # A newer template version exists; the project's own version is what comes back.
        newer = template / "template" / "README.md.jinja"
        newer.write_text("# A newer template version's title\n" + newer.read_text())
        git(template, "commit", "-q", "-am", "a newer template version")

    copier.run_recopy(project, vcs_ref=vcs_ref, defaults=True, overwrite=True, quiet=True)

    missing = [name for name in DELETED if not (project / name).is_file()]
    assert not missing, f"recopy did not restore {missing}"
    differing = [name for name, text in originals.items() if (project / name).read_text() != text]
    assert not differing, f"recopy restored these differently from the first render: {differing}"
    assert (project / ".copier-answers.yml").read_text() == answers, "the answers changed"
    assert "session" in answers, answers
    assert "abac" in answers, answers
    assert (project / ".env").read_text() == secret, ".env (in _skip_if_exists) was rewritten"
    assert (project / USER_FILE).read_text() == "# Runbook\n", "the user's own file changed"
