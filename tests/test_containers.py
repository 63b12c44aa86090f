"""The generated Dockerfile, compose.yaml and .dockerignore: they parse, they run the README's
commands, they keep secrets out of the image, and they start the servers the answers chose."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import Render

PAIRINGS = [
    pytest.param("sqlite", "database", id="sqlite-database"),
    pytest.param("postgresql", "redis", id="postgresql-redis"),
    pytest.param("postgresql", "database", id="postgresql-database"),
    pytest.param("sqlite", "redis", id="sqlite-redis"),
]


@pytest.mark.parametrize(("database", "state_store"), PAIRINGS)
def test_containers_run_the_readme_commands_without_secrets(
    database: str, state_store: str, render: Render, tmp_path: Path
) -> None:
    project = render(
        tmp_path / "p", auth_mode="session", database=database, state_store=state_store
    )
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    services = compose["services"]
    expected = {"migrate", "api"}
    expected |= {"postgres"} if database == "postgresql" else set()
    expected |= {"redis"} if state_store == "redis" else set()
    assert set(services) == expected, f"{database}+{state_store}: {sorted(services)}"

    # The one-shot migration is the README's `db upgrade`, and the api waits for it.
    readme = (project / "README.md").read_text()
    assert "python -m my_service db upgrade" in readme
    assert services["migrate"]["command"] == ["python", "-m", "my_service", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    waits = services["api"]["depends_on"]
    assert waits["migrate"]["condition"] == "service_completed_successfully"
    if state_store == "redis":
        assert services["api"]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert waits["redis"]["condition"] == "service_healthy"
    if database == "postgresql":
        url = services["api"]["environment"]["DATABASE_URL"]
        assert url.startswith("postgresql://"), url
        assert "@postgres:5432/" in url, url
        assert "${POSTGRES_PASSWORD:?" in url, "the password comes from .env, not this file"
        assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"

    dockerfile = (project / "Dockerfile").read_text()
    # The proxies whose X-Forwarded-For is believed: none unless .env names them, for the
    # service and for the image's `fastapi run` (uvicorn reads the same variable).
    assert re.search(r'^\s+FORWARDED_ALLOW_IPS=""$', dockerfile, re.MULTILINE), dockerfile
    for name in ("migrate", "api"):
        forwarded = services[name]["environment"]["FORWARDED_ALLOW_IPS"]
        assert forwarded == "${FORWARDED_ALLOW_IPS:-}", f"{name}: {forwarded!r}"
    assert re.search(r"^USER app$", dockerfile, re.MULTILINE), "the service runs as non-root"
    assert re.search(r"^HEALTHCHECK .*\n.*/health", dockerfile, re.MULTILINE), dockerfile
    assert 'CMD ["fastapi", "run"' in dockerfile
    assert dockerfile.count("FROM ") == 2, "multi-stage: uv and the build stay in the first"
    secret = next(
        line.split("=", 1)[1]
        for line in (project / ".env").read_text().splitlines()
        if line.startswith("SECRET_KEY=")
    )
    for name in ("Dockerfile", "compose.yaml", ".dockerignore"):
        text = (project / name).read_text()
        assert secret not in text, f"{name} holds the project's SECRET_KEY"
        assert not re.search(r"SECRET_KEY\s*[=:]\s*\S", text), f"{name} sets SECRET_KEY"
    ignored = (project / ".dockerignore").read_text().splitlines()
    assert {".env", ".git", ".venv"} <= set(ignored), ignored
