"""token_signing=EdDSA|ES256: two representative combinations run their whole checks, and a
token minted by the EdDSA service verifies elsewhere with PyJWT and the served JWKS alone.

Not a new axis of the matrix: EdDSA with jwt + roles and ES256 with oauth2 + scopes cover
both algorithms, both bearer modes and both kinds of permissions (HS256 is every other
combination of tests/test_combinations.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import Render, run_step, served
from test_combinations import STEPS, coverage_of, run_steps

SIGNING_COMBINATIONS = [
    pytest.param("jwt", "roles", "EdDSA", id="jwt-roles-EdDSA"),
    pytest.param("oauth2", "scopes", "ES256", id="oauth2-scopes-ES256"),
]
PASSWORD = "a long peer-check passphrase"  # noqa: S105 - a test user's, on the command line
# Run by the project's own Python: PyJWT and the served documents, none of the service's code.
VERIFY = """
import json, sys, urllib.request
import jwt
base, token, audience = sys.argv[1:4]
with urllib.request.urlopen(base + "/.well-known/openid-configuration") as response:
    discovery = json.load(response)
with urllib.request.urlopen(discovery["jwks_uri"]) as response:
    keys = {key["kid"]: key for key in json.load(response)["keys"]}
header = jwt.get_unverified_header(token)
key = jwt.PyJWK(keys[header["kid"]])
claims = jwt.decode(token, key, algorithms=[key.algorithm_name], audience=audience,
                    issuer=discovery["issuer"])
print(json.dumps({"kid": header["kid"], "alg": header["alg"], "sub": claims["sub"],
                  "kids": sorted(keys)}))
"""


def readme_commands(readme: str, prefix: str) -> list[str]:
    """The README's code lines that start with `prefix`, comments dropped."""
    section = readme.split("## Token signing", 1)[1].split("\n## ", 1)[0]
    lines = re.findall(r"^(?:uv run|curl) .*$", section, flags=re.MULTILINE)
    return [line.split("  #")[0].strip() for line in lines if line.startswith(prefix)]


def bash(label: str, command: str, project: Path, env: Mapping[str, str]) -> str:
    return run_step(label, ["bash", "-c", command], cwd=project, env=env).stdout


def token_of(label: str, base_url: str, project: Path, env: Mapping[str, str]) -> str:
    form = f"grant_type=password&username=alice&password={PASSWORD.replace(' ', '+')}"
    output = bash(
        f"{label} [token]", f"curl -sf -X POST -d '{form}' {base_url}/auth/token", project, env
    )
    token: str = json.loads(output)["access_token"]
    return token


def verified(
    label: str, base_url: str, token: str, project: Path, env: Mapping[str, str]
) -> dict[str, Any]:
    args = ["uv", "run", "python", "-c", VERIFY, base_url, token, "my-service"]
    result = run_step(f"{label} [verify with PyJWT]", args, cwd=project, env=env)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.combination
@pytest.mark.parametrize(("auth_mode", "authz_style", "token_signing"), SIGNING_COMBINATIONS)
def test_signing_combination(
    auth_mode: str,
    authz_style: str,
    token_signing: str,
    render: Render,
    project_env: Mapping[str, str],
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    label = f"{auth_mode}-{authz_style}-{token_signing}"
    project = render(
        tmp_path / label,
        auth_mode=auth_mode,
        authz_style=authz_style,
        token_signing=token_signing,
    )
    outputs = run_steps(label, project, project_env, STEPS)
    record_property("summary", ("coverage", label, coverage_of(outputs["tests"])))
    if token_signing == "EdDSA":  # noqa: S105 - an algorithm, not a password
        check_a_peer_verifies_the_tokens(label, project, project_env)


def check_a_peer_verifies_the_tokens(label: str, project: Path, env: Mapping[str, str]) -> None:
    """The service in development (its own key made on first start), a token from its token
    endpoint, verified by PyJWT with the served JWKS; then the README's `keys` commands
    exactly as printed: after `keys rotate` the old token still verifies and new ones carry
    the new kid."""
    package = "my_service"
    bash(f"{label} [set up]", f"uv run python -m {package} db upgrade", project, env)
    create = f"uv run python -m {package} users create alice --role admin --password='{PASSWORD}'"
    bash(f"{label} [set up]", create, project, env)
    readme = (project / "README.md").read_text()
    with served(project, env, label) as base_url:
        for line in readme_commands(readme, "curl"):
            output = bash(f"{label} [README]", line.replace("http://127.0.0.1:8000", base_url),
                          project, env)  # fmt: skip
            assert json.loads(output), f"{label}: {line} printed nothing"
        old = token_of(label, base_url, project, env)
        before = verified(label, base_url, old, project, env)
        assert before["alg"] == "EdDSA", f"{label}: {before}"
        key_file = project / ".env.signing-keys" / "jwks.json"
        assert key_file.stat().st_mode & 0o077 == 0, f"{label}: the key file is readable by others"
        subprocess.run(["git", "init", "-q"], cwd=project, check=True)
        ignored = subprocess.run(["git", "check-ignore", "-q", str(key_file)], cwd=project)
        assert ignored.returncode == 0, f"{label}: git would commit the development key"
        commands = readme_commands(readme, "uv run python -m")
        assert [command.split()[-1] for command in commands] == ["rotate", "prune", "show"]
        for command in commands:
            bash(f"{label} [README]", command, project, env)
        # The running instance picks the rotation up within RELOAD_SECONDS (5 s).
        deadline = time.monotonic() + 15
        while True:
            new = verified(label, base_url, token_of(label, base_url, project, env), project, env)
            if new["kid"] != before["kid"] or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert new["kid"] != before["kid"], f"{label}: still signing with {before['kid']}"
        after = verified(label, base_url, old, project, env)
        assert after["kid"] == before["kid"], f"{label}: the old token: {after}"
        assert len(after["kids"]) == 2, f"{label}: after rotate the JWKS holds {after['kids']}"
