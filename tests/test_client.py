"""A client generated from a rendered service's OpenAPI document (openapi-python-client)
reads well and works: it signs in, calls, is refused with a problem it can read, signs out.

One combination (`oauth2` + `roles`), served by `fastapi run` on 127.0.0.1 as users run it.
"""

from __future__ import annotations

import importlib
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import Render, run_step, served

PACKAGE = "my_service"
CLIENT_PACKAGE = "my_service_client"
LABEL = "oauth2-roles [generated client]"
PASSWORD = secrets.token_urlsafe(18)
WRONG_PASSWORD = "not the password"  # noqa: S105
# The classes a reader of the generated client meets first; FastAPI's defaults would have
# been `BodyIssueTokenAuthTokenPost`, `HTTPValidationError`, ...
EXPECTED_MODELS = {"PasswordGrant", "RefreshTokenGrant", "TokenResponse", "MeOut", "Problem"}

pytestmark = pytest.mark.combination


def generate_client(project: Path, env: Mapping[str, str], out: Path) -> Any:
    """The project's OpenAPI document, through openapi-python-client, imported."""
    dump = "import json; from my_service.main import app; print(json.dumps(app.openapi()))"
    document = run_step(f"{LABEL} [openapi]", ["uv", "run", "python", "-c", dump], project, env)
    schema = out / "openapi.json"
    schema.write_text(document.stdout)
    generator = Path(sys.executable).with_name("openapi-python-client")
    generate = [str(generator), "generate", "--path", str(schema), "--meta", "none"]
    run_step(f"{LABEL} [generate]", generate, out, env)
    run_step(f"{LABEL} [compile]", [sys.executable, "-m", "compileall", "-q", "."], out, env)
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module(CLIENT_PACKAGE)
    finally:
        sys.path.remove(str(out))


def test_a_generated_client_logs_in_calls_is_refused_and_logs_out(
    render: Render, project_env: Mapping[str, str], tmp_path: Path
) -> None:
    project = render(tmp_path / "project", auth_mode="oauth2", authz_style="roles")
    env = {
        **project_env,
        "ENVIRONMENT": "development",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": f"sqlite+aiosqlite:///{project / 'client.db'}",
    }
    cli = ["uv", "run", "python", "-m", PACKAGE]
    run_step(f"{LABEL} [install]", ["uv", "sync"], project, env)
    run_step(f"{LABEL} [db upgrade]", [*cli, "db", "upgrade"], project, env)
    create = [*cli, "users", "create", "viewer", "--role", "viewer", f"--password={PASSWORD}"]
    run_step(f"{LABEL} [users create viewer]", create, project, env)
    (tmp_path / "client").mkdir()
    client_package = generate_client(project, env, tmp_path / "client")

    models = importlib.import_module(f"{CLIENT_PACKAGE}.models")
    missing = EXPECTED_MODELS - set(dir(models))
    assert not missing, f"{LABEL}: the client lacks {missing}; it has {sorted(models.__all__)}"
    auth = importlib.import_module(f"{CLIENT_PACKAGE}.api.auth")
    auth_token = importlib.import_module(f"{auth.__name__}.auth_token")
    auth_logout = importlib.import_module(f"{auth.__name__}.auth_logout")
    users_me = importlib.import_module(f"{CLIENT_PACKAGE}.api.users.users_me")
    notes_create = importlib.import_module(f"{CLIENT_PACKAGE}.api.notes.notes_create")

    with served(project, env, LABEL) as base_url:
        anonymous = client_package.Client(base_url=base_url)
        guess = models.PasswordGrant(
            grant_type="password", username="viewer", password=WRONG_PASSWORD
        )
        wrong = auth_token.sync(client=anonymous, body=guess)
        assert isinstance(wrong, models.OAuthError), f"{LABEL}: a wrong password gave {wrong}"
        assert wrong.error == "invalid_grant", f"{LABEL}: {wrong}"

        login = models.PasswordGrant(grant_type="password", username="viewer", password=PASSWORD)
        token = auth_token.sync(client=anonymous, body=login)
        assert isinstance(token, models.TokenResponse), f"{LABEL}: POST /auth/token gave {token}"
        viewer = client_package.AuthenticatedClient(base_url=base_url, token=token.access_token)

        me = users_me.sync(client=viewer)
        assert isinstance(me, models.MeOut), f"{LABEL}: GET /users/me gave {me}"
        assert (me.username, me.role) == ("viewer", models.Role.VIEWER), f"{LABEL}: {me}"

        refused = notes_create.sync_detailed(
            client=viewer, body=models.NoteCreate(title="not allowed")
        )
        assert refused.status_code == 403, f"{LABEL}: POST /notes as a viewer: {refused}"
        problem = refused.parsed
        assert isinstance(problem, models.Problem), f"{LABEL}: the 403 parsed as {problem}"
        assert problem.code == "insufficient_scope", f"{LABEL}: {problem}"
        assert refused.headers["content-type"] == "application/problem+json", f"{LABEL}"

        logout = auth_logout.sync_detailed(client=viewer)
        assert logout.status_code == 204, f"{LABEL}: POST /auth/logout gave {logout.status_code}"
        assert logout.content == b"", f"{LABEL}: the 204 has a body: {logout.content!r}"

        after = users_me.sync_detailed(client=viewer)
        assert after.status_code == 401, f"{LABEL}: the ended token still works: {after}"
        assert isinstance(after.parsed, models.Problem), f"{LABEL}: {after.parsed}"
        assert after.parsed.code == "invalid_token", f"{LABEL}: {after.parsed}"
