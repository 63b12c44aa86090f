"""Releases: the record agrees with the tags and CHANGELOG.md, and no release's answers break.

A project rendered by any release must be able to `copier update` to the working tree: its
`.copier-answers.yml` holds a value for every question that release asked, so a question
that disappears, or a choice value that is no longer offered, would break the update.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

import pytest
import yaml
from packaging.version import Version
from template_releases import (
    CHANGELOG_FILE,
    REPO_ROOT,
    SHA,
    Release,
    git,
    has_commit,
    load_releases,
    missing_commit_hint,
    release_ref,
    tag_commit,
)

RELEASES = load_releases()
RELEASE_PARAMS = [pytest.param(release, id=release.version) for release in RELEASES]


# --- the record --------------------------------------------------------------------------


def test_record_is_well_formed() -> None:
    assert RELEASES, "releases.toml records no release"
    problems = []
    for release in RELEASES:
        if not re.fullmatch(r"\d+\.\d+\.\d+", release.version):
            problems.append(f"{release.version}: not MAJOR.MINOR.PATCH")
        elif str(Version(release.version)) != release.version:
            problems.append(f"{release.version}: not in PEP 440 normal form")
        if not SHA.fullmatch(release.commit):
            problems.append(f"{release.version}: commit {release.commit!r} is not a full sha")
        elif not has_commit(REPO_ROOT, release.commit):
            problems.append(
                f"{release.version}: commit {release.commit} is not in this clone; "
                + missing_commit_hint(REPO_ROOT)
            )
        try:
            date.fromisoformat(release.date)
        except ValueError:
            problems.append(f"{release.version}: date {release.date!r} is not YYYY-MM-DD")
    versions = [Version(r.version) for r in RELEASES if re.fullmatch(r"\d+\.\d+\.\d+", r.version)]
    if versions != sorted(set(versions)):
        problems.append("releases are not listed oldest first, each version once")
    assert not problems, "releases.toml: " + "; ".join(problems)


def test_every_tag_agrees_with_the_record() -> None:
    recorded = {release.tag: release for release in RELEASES}
    tags = git(REPO_ROOT, "tag", "--list", "v*").stdout.split()
    problems = []
    for tag in tags:
        release = recorded.get(tag)
        commit = tag_commit(REPO_ROOT, tag)
        if release is None:
            problems.append(f"tag {tag} ({commit}) is not in releases.toml: record it")
        elif commit != release.commit:
            problems.append(f"tag {tag} is on {commit}, releases.toml says {release.commit}")
        elif git(REPO_ROOT, "cat-file", "-t", f"refs/tags/{tag}").stdout.strip() != "tag":
            problems.append(f"tag {tag} is a lightweight tag: make it with `git tag -a`")
    assert not problems, "; ".join(problems)


def test_changelog_lists_every_release() -> None:
    text = CHANGELOG_FILE.read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\](.*)$", text, re.MULTILINE)
    assert headings, "CHANGELOG.md has no `## [version]` heading"
    assert headings[0][0] == "Unreleased", "CHANGELOG.md must start with `## [Unreleased]`"
    released = [(version, rest.strip()) for version, rest in headings[1:]]
    newest_first = sorted(RELEASES, key=lambda r: Version(r.version), reverse=True)
    expected = [(r.version, f"- {r.date}") for r in newest_first]
    assert released == expected, (
        "CHANGELOG.md's releases (newest first, `## [X.Y.Z] - YYYY-MM-DD`) differ from "
        f"releases.toml: {released} != {expected}"
    )
    missing_links = [
        version
        for version, _ in headings
        if not re.search(rf"^\[{re.escape(version)}\]: \S+", text, re.MULTILINE)
    ]
    assert not missing_links, f"CHANGELOG.md has no link reference for {missing_links}"


# --- copier.yml of every release against the working tree --------------------------------


def load_copier_yml(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict), "copier.yml is not a mapping"
    return data


def is_computed(spec: Any) -> bool:
    """A question with `when: false` is never asked and never stored in the answers file."""
    if not isinstance(spec, Mapping):
        return False
    when = spec.get("when", True)
    if isinstance(when, str):
        return when.strip().lower() in {"false", "{{ false }}", "{{false}}"}
    return when is False


def questions(config: Mapping[str, Any]) -> dict[str, Any]:
    """Question key -> spec; settings (keys starting with `_`) are not questions."""
    return {key: spec for key, spec in config.items() if not str(key).startswith("_")}


def choice_values(spec: Any) -> list[Any] | None:
    """The values a question offers, in every form copier accepts; None for a free answer."""
    if not isinstance(spec, Mapping) or spec.get("choices") is None:
        return None
    choices = spec["choices"]
    if isinstance(choices, Mapping):
        items = list(choices.values())
    elif isinstance(choices, list):
        items = [
            item[1] if isinstance(item, list | tuple) and len(item) == 2 else item
            for item in choices
        ]
    else:  # a Jinja string that renders the choices: nothing to compare statically
        return None
    return [item.get("value") if isinstance(item, Mapping) else item for item in items]


def compatibility_problems(
    release: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[str]:
    """What would break the update of a project rendered by `old` to `new`."""
    problems = []
    new_questions = questions(new)
    for key, old_spec in questions(old).items():
        if is_computed(old_spec):
            continue
        if key not in new_questions:
            problems.append(f"question {key!r} of release {release} has disappeared")
            continue
        new_spec = new_questions[key]
        if is_computed(new_spec):
            problems.append(
                f"question {key!r} of release {release} is computed now (when: false): "
                "the answers that projects stored would be ignored"
            )
            continue
        old_type = old_spec.get("type") if isinstance(old_spec, Mapping) else None
        new_type = new_spec.get("type") if isinstance(new_spec, Mapping) else None
        if old_type and new_type and old_type != new_type:
            problems.append(
                f"question {key!r} changed type from {old_type} (release {release}) to {new_type}"
            )
        old_values = choice_values(old_spec)
        new_values = choice_values(new_spec)
        if old_values is None or new_values is None:
            continue
        problems.extend(
            f"question {key!r}: choice {value!r} of release {release} has disappeared"
            for value in old_values
            if value not in new_values
        )
    return problems


@pytest.mark.parametrize("release", RELEASE_PARAMS)
def test_release_questions_and_choices_survive(release: Release) -> None:
    ref = release_ref(release)
    old = load_copier_yml(git(REPO_ROOT, "show", f"{ref}:copier.yml").stdout)
    new = load_copier_yml((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    problems = compatibility_problems(release.version, old, new)
    assert not problems, (
        f"projects rendered by {release.version} (at {ref}) could not `copier update` to the "
        "working tree: " + "; ".join(problems)
    )


def test_compatibility_check_names_what_broke() -> None:
    old = {
        "_subdirectory": "template",
        "auth_mode": {"type": "str", "choices": {"JWT": "jwt", "Session": "session"}},
        "database": {"type": "str", "choices": ["sqlite"]},
        "region": {"type": "str", "choices": [["Europe", "eu"], ["America", "us"]]},
        "legacy": {"type": "str", "when": False},
        "port": {"type": "int", "default": 8000},
    }
    compatible = {
        "auth_mode": {"choices": {"JWT": "jwt", "Session": {"value": "session"}, "Key": "api_key"}},
        "database": {"type": "str", "choices": ["sqlite", "postgresql"]},
        "region": {"type": "str", "choices": {"Europe": "eu", "America": "us"}},
        "port": {"type": "int"},
        "computed": {"type": "str", "when": False, "default": "x"},
    }
    assert compatibility_problems("1.0.0", old, compatible) == []

    broken = {
        "auth_mode": {"type": "str", "choices": {"JWT": "jwt"}},
        "region": {"type": "str", "when": "{{ false }}"},
        "port": {"type": "str"},
    }
    assert compatibility_problems("1.0.0", old, broken) == [
        "question 'auth_mode': choice 'session' of release 1.0.0 has disappeared",
        "question 'database' of release 1.0.0 has disappeared",
        "question 'region' of release 1.0.0 is computed now (when: false): "
        "the answers that projects stored would be ignored",
        "question 'port' changed type from int (release 1.0.0) to str",
    ]
