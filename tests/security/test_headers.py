"""Cache-Control: no-store on student data, a Content-Security-Policy, a signed-in schema."""

import pytest
from django.test import Client

from tests.security.conftest import incident_body


def test_every_api_answer_is_no_store(teacher_api):
    filed = teacher_api.post("/api/incidents/", incident_body(), format="json")
    listed = teacher_api.get("/api/incidents/")
    refused = teacher_api.post("/api/incidents/", {}, format="json")
    anonymous = Client().get("/api/incidents/")
    for response in (filed, listed, refused, anonymous):
        assert "no-store" in response["Cache-Control"]


def test_the_csv_export_is_no_store(admin_browser):
    response = admin_browser.get("/reports/equity.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "no-store" in response["Cache-Control"]


def test_signed_in_pages_are_no_store(teacher_browser):
    assert "no-store" in teacher_browser.get("/incidents/mine/")["Cache-Control"]


@pytest.mark.parametrize("url", ["/accounts/login/", "/", "/people/", "/api/docs/"])
def test_pages_carry_a_content_security_policy(admin_browser, client, url):
    # The sign-in page sends a signed-in person home: read it signed out.
    response = (client if url == "/accounts/login/" else admin_browser).get(url)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src


def test_the_docs_page_runs_no_inline_script(admin_browser):
    html = admin_browser.get("/api/docs/").content.decode()
    assert "<script>" not in html
    nonce = admin_browser.get("/api/docs/")
    assert "nonce-" in nonce["Content-Security-Policy"]


def test_schema_and_docs_need_a_sign_in(teacher_browser):
    anonymous = Client()
    schema = anonymous.get("/api/schema/")
    assert schema.status_code == 401
    assert b"not_authenticated" in schema.content
    docs = anonymous.get("/api/docs/")
    assert docs.status_code == 302 and docs.url.startswith("/accounts/login/")
    assert teacher_browser.get("/api/schema/").status_code == 200


def test_the_boundary_holds_under_asgi_too(transactional_db):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from django.test import AsyncClient

    async def requests():
        client = AsyncClient()
        return (
            await client.get("/api/incidents/"),
            await client.get("/api/queues/A%00B/counselor/items/"),
        )

    # Its own thread and event loop: the browser tests keep one running in this thread.
    with ThreadPoolExecutor(1) as pool:
        anonymous, nul = pool.submit(asyncio.run, requests()).result()
    assert anonymous.status_code == 401
    assert "no-store" in anonymous["Cache-Control"]
    assert nul.status_code == 404
    assert b'"not_found"' in nul.content


def test_sign_in_page_lets_its_form_reach_only_the_configured_identity_providers(
    db, client, settings
):
    # Browsers check the redirect after the SSO button's POST against form-action: without the
    # provider's origin there, Chromium stops SSO at our own redirect.
    from triage.settings import sso_providers

    settings.SOCIALACCOUNT_PROVIDERS = sso_providers(
        '[{"id": "district", "name": "District sign-in", "client_id": "c", "secret": "s",'
        ' "server_url": "https://idp.example.org/realms/district"}]'
    )
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    form_action = next(d for d in policy.split(";") if d.strip().startswith("form-action"))
    assert form_action.split() == ["form-action", "'self'", "https://idp.example.org"]
