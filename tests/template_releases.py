"""The template's releases (releases.toml, git tags) and throwaway git copies of the template.

A release is the tag `v<version>` on the commit that releases.toml records. A fresh clone may
have no tags, so a release is read at its tag when the tag is there and points at the
recorded commit, and at the recorded commit otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[1]
RELEASES_FILE = REPO_ROOT / "releases.toml"
CHANGELOG_FILE = REPO_ROOT / "CHANGELOG.md"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "tests@localhost",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "tests@localhost",
}
# Whatever the user's git configuration, commits and tags of the tests are plain ones.
GIT_OPTIONS = ("-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", "-c", "core.hooksPath=")

SHA = re.compile(r"^[0-9a-f]{40}$")


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *GIT_OPTIONS, *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=check,
    )


@dataclass(frozen=True)
class Release:
    version: str
    commit: str
    date: str

    @property
    def tag(self) -> str:
        return f"v{self.version}"

    def __str__(self) -> str:
        return self.version


def load_releases() -> list[Release]:
    """Every release of releases.toml, in the file's order (oldest first)."""
    data = tomllib.loads(RELEASES_FILE.read_text(encoding="utf-8"))
    return [
        Release(version=str(entry["version"]), commit=str(entry["commit"]), date=str(entry["date"]))
        for entry in data.get("release", [])
    ]


def latest_release() -> Release:
    releases = load_releases()
    assert releases, f"{RELEASES_FILE.name} records no release"
    return max(releases, key=lambda release: Version(release.version))


def tag_commit(repo: Path, tag: str) -> str | None:
    """The commit a tag points at in `repo`, or None when there is no such tag."""
    result = git(
        repo, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}", check=False
    )
    return result.stdout.strip() or None


def has_commit(repo: Path, sha: str) -> bool:
    return git(repo, "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0


def missing_commit_hint(repo: Path) -> str:
    shallow = git(repo, "rev-parse", "--is-shallow-repository", check=False).stdout.strip()
    if shallow == "true":
        return "this clone is shallow: run `git fetch --unshallow --tags`"
    return "fetch the full history and the tags: `git fetch --tags`"


def require_commit(repo: Path, release: Release) -> None:
    """Fail, saying what to do, when a release's commit is not in `repo` (a shallow clone)."""
    if not has_commit(repo, release.commit):
        hint = missing_commit_hint(repo)
        pytest.fail(
            f"release {release.version}: commit {release.commit} (releases.toml) is not in "
            f"{repo}; {hint}",
            pytrace=False,
        )


def release_ref(release: Release, repo: Path = REPO_ROOT) -> str:
    """The tag of the release if `repo` has it where releases.toml says, else its commit."""
    require_commit(repo, release)
    if tag_commit(repo, release.tag) == release.commit:
        return release.tag
    return release.commit


def template_checkout(destination: Path) -> Path:
    """A git clone of this repository whose HEAD commit is the working tree.

    The working tree (uncommitted changes and new files included) is committed on top of
    this checkout's HEAD, and every release is tagged `v<version>` on its recorded commit, so
    copier can check out any release and update from it to HEAD like a user's copier does.
    """
    git(REPO_ROOT, "clone", "-q", "--no-checkout", str(REPO_ROOT), str(destination))
    head = git(REPO_ROOT, "rev-parse", "HEAD").stdout.strip()
    git(destination, "checkout", "-q", "--detach", head)
    for child in destination.iterdir():
        if child.name == ".git":
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    files = git(REPO_ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z").stdout
    for name in filter(None, files.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git(destination, "add", "-A")
    git(destination, "commit", "-q", "--allow-empty", "-m", "the working tree")
    for release in load_releases():
        require_commit(destination, release)
        if tag_commit(destination, release.tag) != release.commit:
            git(destination, "tag", "-f", "-a", release.tag, release.commit, "-m", release.tag)
    return destination
