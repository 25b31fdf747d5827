"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright against a live server."""

import os
import shutil

import pytest
from axe_playwright_python.sync_playwright import Axe

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
_axe = Axe()


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    # Playwright's sync API runs an event loop in this thread; the live server's ORM calls run
    # in their own thread, so Django's async-safety check would misfire here. Browser tests only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run `make test` (it installs Debian's chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def assert_accessible(page) -> None:
    """axe-core over the page: no WCAG 2.1 A/AA violations."""
    results = _axe.run(page, options=WCAG_21_AA)
    violations = results.response["violations"]
    assert violations == [], results.generate_report()


def sign_in(page, live_server, username: str, password: str = "demo") -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


def sign_out_by_forgetting(page) -> None:
    """Drop the session as a browser whose cookies are cleared would, after leaving the page
    first: a page's own requests still in flight (a live page's status fetch) could otherwise
    set the old CSRF cookie after the next sign-in page set a new one, and that sign-in would
    then be refused as a CSRF failure."""
    page.goto("about:blank")
    page.context.clear_cookies()


def fits_a_phone(page) -> bool:
    """Nothing scrolls sideways on the 390 px wide phone viewport of the `page` fixture."""
    return page.evaluate("document.documentElement.scrollWidth") <= 390


@pytest.fixture
def demo_routed_in_test(transactional_db, monkeypatch):
    """The demo district with the default policy, and no broker: a test routes by itself."""
    from incidents import services
    from policies.services import ruleset_ensure_default
    from schools.demo import seed_people_and_roster

    district = seed_people_and_roster(students_per_school=5)
    ruleset_ensure_default(district=district)
    monkeypatch.setattr(
        services.routing, "incident_dispatch", lambda *, incident_id, force=False: True
    )
    monkeypatch.setattr(
        services.delivery, "queue_items_deliver_later", lambda *, item_ids, route: None
    )
    return district


@pytest.fixture
def asgi_live_server(transactional_db):
    """The product's ASGI application under uvicorn, in a thread of this process: live streams
    stay open as they do in production (Django's live_server is a WSGI server)."""
    import threading
    import time
    from types import SimpleNamespace

    import uvicorn
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from tests.processes import free_port
    from triage.asgi import application

    port = free_port()
    config = uvicorn.Config(
        ASGIStaticFilesHandler(application),
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(15)
    from django.db import connection

    if hasattr(connection, "close_pool"):
        connection.close_pool()  # connections its threads borrowed: the database can be dropped
