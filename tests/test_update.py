"""`copier update` on a project its user has edited, while switching an answer."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import copier
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "tests@localhost",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "tests@localhost",
}
LOCAL_CHANGE = "# Local change: this line must survive `copier update`.\n"


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def snapshot_template(destination: Path) -> Path:
    """The working tree (uncommitted changes included) as a fresh git repository."""
    files = git(REPO_ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for name in filter(None, files.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git(destination, "init", "-q", "-b", "main")
    git(destination, "add", "-A")
    git(destination, "commit", "-q", "-m", "template v1")
    git(destination, "tag", "v1.0.0")
    return destination


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    return snapshot_template(tmp_path / "template")


# The answer switched by the update, a file only the old option has (None: every file of
# the old option keeps its name), and a file of the new option.
SWITCHES = {
    "authz_style": (
        "scopes",
        "migrations/versions/roles_0001_user_roles.py",
        "migrations/versions/grants_0001_user_scopes.py",
    ),
    "auth_mode": ("session", "auth/tokens.py", "auth/sessions.py"),
}


@pytest.mark.parametrize("switched", SWITCHES)
def test_update_keeps_local_edits_and_switches_answers(
    template_repo: Path, tmp_path: Path, switched: str
) -> None:
    new_value, old_file, new_file = SWITCHES[switched]
    project = tmp_path / "project"
    copier.run_copy(
        str(template_repo),
        project,
        data={"auth_mode": "jwt", "authz_style": "roles"},
        defaults=True,
        quiet=True,
        unsafe=False,
    )
    package = project / "my_service"
    assert old_file is None or (package / old_file).exists()
    secret = (project / ".env").read_text()
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "generated")
    with (package / "api" / "notes.py").open("a") as notes:
        notes.write(LOCAL_CHANGE)
    git(project, "commit", "-q", "-am", "local change")

    readme = template_repo / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nA line added by template v1.1.0.\n")
    git(template_repo, "commit", "-q", "-am", "template v1.1")
    git(template_repo, "tag", "v1.1.0")

    copier.run_update(
        project,
        data={switched: new_value},
        defaults=True,
        overwrite=True,
        quiet=True,
        unsafe=False,
    )

    failures = []
    if old_file is not None and (package / old_file).exists():
        failures.append(f"{old_file} of the old answer is still there")
    if not (package / new_file).exists():
        failures.append(f"{new_file} of the new answer is missing")
    if LOCAL_CHANGE not in (package / "api" / "notes.py").read_text():
        failures.append("the user's edit of api/notes.py was lost")
    if "A line added by template v1.1.0." not in (project / "README.md").read_text():
        failures.append("the template's change did not arrive")
    if (project / ".env").read_text() != secret:
        failures.append(".env (the generated secret) was overwritten")
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    if (answers[switched], answers["_commit"]) != (new_value, "v1.1.0"):
        failures.append(f"answers file not updated: {answers}")
    leftovers = [p.name for p in project.rglob("*.rej")] + [
        str(p.relative_to(project)) for p in project.rglob("*.py") if "<<<<<<<" in p.read_text()
    ]
    if leftovers:
        failures.append(f"conflicts left behind: {leftovers}")
    assert not failures, f"jwt-roles, update to {switched}={new_value}: " + "; ".join(failures)
