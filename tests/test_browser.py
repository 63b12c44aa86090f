"""Swagger UI at /docs, driven in a real browser for each auth_mode (with roles).

Each test renders one combination, installs it, creates an editor and a viewer with the
project's own command line, starts the service and uses /docs the way its users would:
sign in (the Authorize dialog, a pasted API key, or "Try it out" on the login operation),
then "Try it out" / "Execute" on a few operations, reading each status from the page. The
page must make no request to another host, and its Content-Security-Policy must not have
blocked anything.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import AUTH_MODES, Render, run_step, served
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = "/usr/bin/chromium"
# No background traffic: this machine's network is closed, and the test counts every request.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PACKAGE = "my_service"
# A fresh one per run: never a common password, nor one worth keeping.
PASSWORD = secrets.token_urlsafe(18)
WAIT_MS = 30_000
STATUS = re.compile(r"\d{3}")
# The Authorize dialog's buttons, by their accessible names (API key and OAuth2 forms).
APPLY = re.compile(r"^Apply (given OAuth2 )?credentials$")
REMOVE = "Remove authorization"
# The Authorize button's class while the page holds a credential ("unlocked" otherwise).
LOCKED = re.compile(r"\blocked\b")

pytestmark = [pytest.mark.combination, pytest.mark.browser]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does it)"
        # CI installs it, so a missing browser there is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    # Generous: CI runs this beside the twelve combinations on two cores. Nothing here
    # waits a fixed time; these only bound how long a wait may take before it fails.
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Service:
    base_url: str
    api_keys: dict[str, str] = field(default_factory=dict)


@contextmanager
def running_service(
    project: Path, env: Mapping[str, str], auth_mode: str, label: str
) -> Iterator[Service]:
    """The rendered project installed, with an editor and a viewer, served on 127.0.0.1."""
    env = {
        **env,
        "ENVIRONMENT": "development",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": f"sqlite+aiosqlite:///{project / 'browser.db'}",
    }
    cli = ["uv", "run", "python", "-m", PACKAGE]
    run_step(f"{label} [install]", ["uv", "sync"], project, env)
    run_step(f"{label} [db upgrade]", [*cli, "db", "upgrade"], project, env)
    api_keys: dict[str, str] = {}
    for role in ("editor", "viewer"):
        create = [*cli, "users", "create", role, "--role", role, f"--password={PASSWORD}"]
        run_step(f"{label} [users create {role}]", create, project, env)
        if auth_mode == "api_key":
            key = [*cli, "api-keys", "create", role]
            made = run_step(f"{label} [api-keys create {role}]", key, project, env)
            api_keys[role] = made.stdout.strip().splitlines()[-1]

    with served(project, env, label) as base_url:
        yield Service(base_url, api_keys)


class SwaggerPage:
    """/docs as a person uses it: expand an operation, "Try it out", "Execute", read the status."""

    def __init__(self, page: Page, base_url: str, label: str) -> None:
        self.page = page
        self.base_url = base_url
        self.label = label
        # Where to save the Authorize dialog as the first sign-in fills it.
        self.dialog_screenshot: Path | None = None

    def operation(self, method: str, path: str) -> Locator:
        return self.page.locator(
            f".opblock.opblock-{method.lower()}:has(.opblock-summary-path[data-path='{path}'])"
        )

    def execute(
        self,
        method: str,
        path: str,
        *,
        body: str | None = None,
        params: Mapping[str, str] | None = None,
        keep: bool = False,
    ) -> int:
        operation = self.operation(method, path)
        expect(operation, f"{self.label}: {method} {path} on the page").to_have_count(1)
        if "is-open" not in (operation.get_attribute("class") or ""):
            operation.locator(".opblock-summary-control").click()
        # "Try it out" once; later runs find "Cancel" (and "Reset") in its place.
        expect(operation.locator("button.try-out__btn").first).to_be_visible()
        try_out = operation.get_by_role("button", name="Try it out", exact=True)
        if try_out.count():
            try_out.click()
        for name, value in (params or {}).items():
            operation.locator(f"tr[data-param-name='{name}'] input").fill(value)
        if body is not None:
            operation.locator("textarea.body-param__text").fill(body)

        with self.page.expect_response(
            lambda response: (
                response.request.method == method
                and urlsplit(response.url).path == path.format(**(params or {}))
            )
        ) as answered:
            operation.locator("button.execute").click()
        status_cell = operation.locator(".live-responses-table tr.response td.response-col_status")
        expect(status_cell).to_be_visible()
        shown = STATUS.search(status_cell.inner_text())
        assert shown, f"{self.label}: {method} {path} shows no status: {status_cell.inner_text()}"
        status = int(shown.group())
        assert status == answered.value.status, (
            f"{self.label}: {method} {path}: the page shows {status}, "
            f"the server answered {answered.value.status}"
        )
        if keep:  # left on the page, for the screenshot
            status_cell.scroll_into_view_if_needed()
            return status
        # Clear the answer so that the next execution of this operation is read afresh.
        operation.locator("button.btn-clear").click()
        expect(status_cell).to_have_count(0)
        return status

    def expect_status(self, expected: int, method: str, path: str, **kwargs: Any) -> None:
        status = self.execute(method, path, **kwargs)
        assert status == expected, (
            f"{self.label}: {method} {path} answered {status} in /docs, expected {expected}"
        )

    def open_authorize_dialog(self) -> Locator:
        self.page.locator(".scheme-container button.authorize").click()
        dialog = self.page.locator(".modal-ux")
        expect(dialog).to_be_visible()
        return dialog

    def close_authorize_dialog(self, dialog: Locator) -> None:
        dialog.locator("button.btn-done").click()
        expect(dialog).to_have_count(0)

    def click_and_expect(self, button: Locator, path: str, status: int, what: str) -> None:
        """Click `button`, which makes the page request `path`; the answer must be `status`."""
        with self.page.expect_response(lambda response: urlsplit(response.url).path == path) as got:
            button.click()
        assert got.value.status == status, (
            f"{self.label}: {what}: {path} answered {got.value.status}, expected {status}: "
            f"{got.value.text()}"
        )

    def authorize(self, fill: Mapping[str, str], fetches: str | None) -> None:
        """Fill the Authorize dialog and apply it; with `fetches`, wait for that request."""
        dialog = self.open_authorize_dialog()
        for selector, value in fill.items():
            dialog.locator(selector).fill(value)
        if self.dialog_screenshot is not None:
            dialog.locator(".modal-ux-inner").screenshot(path=self.dialog_screenshot)
            print(f"{self.label}: screenshot {self.dialog_screenshot}")
            self.dialog_screenshot = None
        apply = dialog.get_by_role("button", name=APPLY)
        if fetches is None:
            apply.click()
        else:
            self.click_and_expect(apply, fetches, 200, "the Authorize dialog's sign-in")
        expect(dialog.get_by_role("button", name=REMOVE)).to_be_visible()
        self.close_authorize_dialog(dialog)
        expect(self.page.locator(".scheme-container button.authorize")).to_have_class(LOCKED)

    def authorize_fails(self, fill: Mapping[str, str], fetches: str, status: int) -> None:
        """A refused sign-in in the Authorize dialog shows its error there, and signs nobody in."""
        dialog = self.open_authorize_dialog()
        for selector, value in fill.items():
            dialog.locator(selector).fill(value)
        apply = dialog.get_by_role("button", name=APPLY)
        self.click_and_expect(apply, fetches, status, "a wrong password in the Authorize dialog")
        expect(dialog.locator(".errors")).to_contain_text(str(status))
        self.close_authorize_dialog(dialog)
        expect(self.page.locator(".scheme-container button.authorize")).not_to_have_class(LOCKED)

    def forget_authorization(self, fetches: str | None = None) -> None:
        """The Authorize dialog's Logout; with `fetches`, it also ends the login server-side."""
        dialog = self.open_authorize_dialog()
        remove = dialog.get_by_role("button", name=REMOVE)
        if fetches is None:
            remove.click()
        else:
            self.click_and_expect(remove, fetches, 204, "the Authorize dialog's Logout")
        expect(dialog.get_by_role("button", name=APPLY)).to_be_visible()
        self.close_authorize_dialog(dialog)
        authorize = self.page.locator(".scheme-container button.authorize")
        expect(authorize).not_to_have_class(LOCKED)


def sign_in(docs: SwaggerPage, auth_mode: str, role: str, service: Service) -> None:
    """Sign in as people would: the Authorize dialog (session mode: the viewer uses
    "Try it out" on the login operation instead, which closes the padlocks too)."""
    if auth_mode in {"jwt", "oauth2"}:
        fill = {"#oauth_username": role, "#oauth_password": PASSWORD}
        docs.authorize(fill, fetches="/auth/token")
    elif auth_mode == "api_key":
        docs.authorize({"#api_key_value": service.api_keys[role]}, fetches=None)
    elif role == "editor":
        wrong = {"#session_username": role, "#session_password": f"not-{PASSWORD}"}
        docs.authorize_fails(wrong, fetches="/auth/login", status=401)
        fill = {"#session_username": role, "#session_password": PASSWORD}
        docs.authorize(fill, fetches="/auth/login")
    else:
        login = f'{{"username": "{role}", "password": "{PASSWORD}"}}'
        docs.expect_status(200, "POST", "/auth/login", body=login)
        authorize = docs.page.locator(".scheme-container button.authorize")
        expect_locked(authorize, docs.label)


def expect_locked(authorize: Locator, label: str) -> None:
    expect(authorize, f"{label}: the padlocks show the session").to_have_class(LOCKED)


def sign_out(docs: SwaggerPage, auth_mode: str) -> None:
    if auth_mode == "session":
        # The dialog's Logout ends the session server-side, and the cookie is gone.
        docs.forget_authorization(fetches="/auth/logout")
        docs.expect_status(401, "GET", "/users/me")
        return
    if auth_mode != "api_key":
        docs.expect_status(204, "POST", "/auth/logout")
    docs.forget_authorization()


@pytest.mark.parametrize("auth_mode", AUTH_MODES)
def test_swagger_ui_signs_in_and_calls_the_api(
    auth_mode: str,
    render: Render,
    project_env: Mapping[str, str],
    tmp_path: Path,
    browser: Browser,
    record_property: Callable[[str, object], None],
) -> None:
    label = f"{auth_mode}-roles [browser]"
    if shutil.which("uv") is None:
        pytest.fail("uv is not on PATH", pytrace=False)
    project = render(tmp_path / "project", auth_mode=auth_mode, authz_style="roles")
    with running_service(project, project_env, auth_mode, label) as service:
        context = browser.new_context(base_url=service.base_url)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        requests: list[str] = []
        blocked: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.on(
            "console",
            lambda message: (
                blocked.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        docs = SwaggerPage(page, service.base_url, label)
        docs.dialog_screenshot = tmp_path / f"docs-{auth_mode}-authorize.png"
        screenshot = tmp_path / f"docs-{auth_mode}.png"
        try:
            page.goto("/docs")
            page.locator(".opblock").first.wait_for()

            sign_in(docs, auth_mode, "editor", service)
            docs.expect_status(200, "GET", "/users/me")
            docs.expect_status(403, "GET", "/users")
            note = '{"title": "from the docs page", "body": "written in Swagger UI"}'
            docs.expect_status(201, "POST", "/notes", body=note)
            sign_out(docs, auth_mode)

            sign_in(docs, auth_mode, "viewer", service)
            docs.expect_status(200, "GET", "/users/me")
            docs.expect_status(403, "POST", "/notes", body=note, keep=True)
        finally:
            with contextlib.suppress(PlaywrightError):  # keep the test's own failure
                page.screenshot(path=screenshot)
            print(f"{label}: screenshot {screenshot}")
            record_property("summary", ("screenshot", label, str(screenshot)))
            context.close()

    origin = urlsplit(service.base_url).netloc
    off_host = [
        url
        for url in requests
        if urlsplit(url).scheme not in {"data", "blob"} and urlsplit(url).netloc != origin
    ]
    assert not off_host, f"{label}: /docs asked other hosts: {off_host}"
    assert any(urlsplit(url).path.endswith("swagger-ui-bundle.js") for url in requests), (
        f"{label}: the page did not load Swagger UI from the service: {requests}"
    )
    assert not blocked, f"{label}: the page's CSP blocked: {blocked}"
