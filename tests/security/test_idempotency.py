"""An Idempotency-Key reused with a different body is refused, like the payment APIs do."""

from incidents.models import Incident
from tests.security.conftest import incident_body


def test_same_key_different_body_is_a_422_naming_the_first_incident(teacher_api):
    first = teacher_api.post(
        "/api/incidents/", incident_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert first.status_code == 201
    firearm = incident_body(
        category="weapon", weapon="firearm", narrative="He showed a gun in his backpack."
    )
    second = teacher_api.post("/api/incidents/", firearm, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert second.status_code == 422
    body = second.json()
    assert body["incident"] == first.json()["id"]
    assert body["errors"][0]["code"] == "idempotency_key_reused"
    assert f"already filed incident {first.json()['id']}" in body["errors"][0]["message"]
    assert Incident.objects.count() == 1
    # With a new key the firearm report is filed.
    third = teacher_api.post("/api/incidents/", firearm, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert third.status_code == 201
    assert Incident.objects.filter(weapon="firearm").count() == 1


def test_same_key_same_body_returns_the_first_incident(teacher_api):
    first = teacher_api.post(
        "/api/incidents/", incident_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    again = teacher_api.post(
        "/api/incidents/", incident_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Incident.objects.count() == 1


def test_key_in_the_body_is_checked_the_same_way(teacher_api):
    teacher_api.post("/api/incidents/", incident_body(idempotency_key="b-1"), format="json")
    other = teacher_api.post(
        "/api/incidents/",
        incident_body(idempotency_key="b-1", narrative="Something else entirely."),
        format="json",
    )
    assert other.status_code == 422
    assert Incident.objects.count() == 1


def test_the_intake_page_does_not_drop_a_different_report_sent_with_a_used_key(
    teacher_browser,
):
    form = {
        "school": "WAS-MS",
        "category": "other",
        "narrative": "First.",
        "danger_now": "none",  # always asked (issue 12)
        "idempotency_key": "p1",
    }
    assert teacher_browser.post("/incidents/new/", form).status_code == 302
    changed = teacher_browser.post("/incidents/new/", {**form, "narrative": "Second, different."})
    assert changed.status_code == 200
    assert "was not filed" in changed.content.decode()
    assert Incident.objects.count() == 1
