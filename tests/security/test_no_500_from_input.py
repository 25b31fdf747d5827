"""Each input that gave a 500 in the security review, replayed: now a 400, 404 or 413."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Incident, QueueItem, TimelineEvent
from policies.models import RuleSet
from tests.security.conftest import incident_body

DEEP = "[" * 5000 + "]" * 5000


def test_deeply_nested_json_is_a_400_on_every_json_endpoint(teacher_api, admin_api):
    filing = teacher_api.post("/api/incidents/", data=DEEP, content_type="application/json")
    assert filing.status_code == 400
    assert filing.json()["errors"][0]["code"] == "parse_error"
    assert "nested deeper than 32 levels" in filing.json()["errors"][0]["message"]
    draft = admin_api.post("/api/rulesets/", {}, format="json").json()["version"]
    put = admin_api.put(f"/api/rulesets/{draft}/", data=DEEP, content_type="application/json")
    assert put.status_code == 400
    nested_in_a_field = json.dumps(incident_body(students=json.loads("[" * 40 + "]" * 40)))
    assert (
        teacher_api.post(
            "/api/incidents/", data=nested_in_a_field, content_type="application/json"
        ).status_code
        == 400
    )
    assert Incident.objects.count() == 0


def test_deeply_nested_draft_in_the_rule_editor_is_refused(admin_browser, admin_api):
    draft = admin_api.post("/api/rulesets/", {}, format="json").json()["version"]
    before = RuleSet.objects.get(version=draft).updated_at
    response = admin_browser.post(f"/rules/{draft}/edit/", {"spec": DEEP})
    assert response.status_code in (200, 400)
    assert RuleSet.objects.get(version=draft).updated_at == before


def test_nul_in_a_url_path_is_a_404(teacher_api):
    response = teacher_api.get("/api/queues/WAS%00MS/counselor/items/")
    assert response.status_code == 404
    assert response.json()["errors"] == [{"code": "not_found", "message": "Not found."}]


@pytest.mark.parametrize(
    "url",
    [
        "/api/queues/WAS-MS/counselor/items/?state=%00",
        "/api/incidents/?page=%00",
        "/incidents/students/?school=WAS-MS&q=a%00b",
        "/rules/1/preview/?narrative=%00",
    ],
)
def test_nul_in_a_query_string_is_a_400(admin_api, admin_browser, url):
    client = admin_api if url.startswith("/api/") else admin_browser
    assert client.get(url).status_code == 400


def test_nul_in_a_form_field_is_a_400(teacher_browser, admin_browser):
    response = teacher_browser.post(
        "/incidents/new/",
        {"school": "WAS-MS", "category": "other", "narrative": "bad\x00byte"},
    )
    assert response.status_code == 400
    assert Incident.objects.count() == 0
    preview = admin_browser.post("/rules/1/preview/", {"narrative": "a\x00b"})
    assert preview.status_code == 400


def test_nul_in_json_text_is_a_400(teacher_api, admin_api):
    response = teacher_api.post(
        "/api/incidents/", incident_body(narrative="bad\x00byte"), format="json"
    )
    assert response.status_code == 400
    draft = admin_api.post("/api/rulesets/", {}, format="json").json()
    spec = {k: draft[k] for k in ("rules", "default_route", "guardrails")}
    spec["rules"][0]["name"] = "evil\x00name"
    put = admin_api.put(f"/api/rulesets/{draft['version']}/", spec, format="json")
    assert put.status_code == 400
    assert "NUL" in put.json()["errors"][0]["message"]
    assert Incident.objects.count() == 0


def test_invalid_utf8_in_a_form_encoded_api_body_is_refused(teacher_api):
    body = b"school=WAS-MS&category=other&narrative=caf%E9+%FF"
    response = teacher_api.post(
        "/api/incidents/", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "invalid_encoding", "message": "The form is not valid UTF-8."}
    ]
    assert Incident.objects.count() == 0


def test_an_unreadable_multipart_api_body_is_a_json_400(teacher_api):
    """Found by the schema fuzzer: a part whose headers pass Django's size limit made Django
    answer its HTML 400 page on an API path."""
    boundary = "fuzz"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="narrative"\r\n'
        f"X-Padding: {'x' * 12_000}\r\n\r\nhello\r\n--{boundary}--\r\n"
    ).encode()
    response = teacher_api.post(
        "/api/incidents/", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    (error,) = response.json()["errors"]
    assert error["code"] == "malformed_multipart"
    assert "header size" in error["message"]
    assert Incident.objects.count() == 0


@pytest.mark.parametrize(
    "occurred_at",
    ["0001-01-01T00:00:00Z", "0107-06-01T00:00:00Z", "2020-01-01T00:00:00Z"],
)
def test_occurred_at_more_than_two_years_ago_is_a_400(teacher_api, occurred_at):
    response = teacher_api.post(
        "/api/incidents/", incident_body(occurred_at=occurred_at), format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "occurred_at"
    assert Incident.objects.count() == 0


def test_occurred_at_within_two_years_is_accepted(teacher_api):
    when = (timezone.now() - timedelta(days=700)).isoformat()
    assert (
        teacher_api.post(
            "/api/incidents/", incident_body(occurred_at=when), format="json"
        ).status_code
        == 201
    )


def test_an_oversized_api_body_is_a_json_413(teacher_api):
    body = json.dumps(incident_body(narrative="x" * 2_000_000))
    response = teacher_api.post("/api/incidents/", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["code"] == "too_large"
    assert Incident.objects.count() == 0


def test_a_note_text_must_be_a_string(teacher, admin, school):
    from incidents.services import incident_file, incident_route
    from schools.models import Role
    from tests.conftest import api_client_for
    from tests.factories import user_with_role

    counselor = user_with_role("counselor", school, username="cc")
    incident, _ = incident_file(
        reporter=teacher, school=school, category="self_harm", narrative="x"
    )
    incident_route(incident_id=incident.pk)
    item = QueueItem.objects.get(incident=incident)
    assert item.queue.route == "counselor" and Role.COUNSELOR == "counselor"
    before = TimelineEvent.objects.count()
    response = api_client_for(counselor).post(
        f"/api/queue-items/{item.pk}/notes/", {"text": 42}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "text", "code": "invalid", "message": "Not a valid string."}
    ]
    assert TimelineEvent.objects.count() == before


def test_previewing_a_draft_with_errors_is_a_400(admin_api):
    draft = admin_api.post("/api/rulesets/", {}, format="json").json()
    RuleSet.objects.filter(version=draft["version"]).update(default_route="nowhere")
    response = admin_api.post(
        f"/api/rulesets/{draft['version']}/preview/", incident_body(), format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "ruleset"


def test_an_oversized_body_over_a_real_connection_gets_the_413_not_a_reset(live_server, teacher):
    import http.client
    from urllib.parse import urlparse

    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=teacher)
    address = urlparse(live_server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    body = json.dumps(incident_body(narrative="x" * 2_000_000)).encode()
    connection.request(
        "POST",
        "/api/incidents/",
        body=body,
        headers={"Authorization": f"Token {token.key}", "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["errors"][0]["code"] == "too_large"
    connection.close()
