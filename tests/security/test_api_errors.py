"""One error shape for every error status, and an OpenAPI document that declares them."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from reports.exports import csv_cell
from tests.security.conftest import incident_body


def test_404_403_405_and_415_share_the_shape(teacher_api, school, other_school):
    missing = teacher_api.get("/api/incidents/999999/")
    assert missing.status_code == 404
    assert missing.json()["errors"] == [{"code": "not_found", "message": missing.json()["detail"]}]
    forbidden = teacher_api.post("/api/incidents/", incident_body(school="JEF-HS"), format="json")
    assert forbidden.status_code == 403
    assert forbidden.json()["errors"][0]["code"] == "permission_denied"
    wrong_method = teacher_api.delete("/api/incidents/")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["errors"][0]["code"] == "method_not_allowed"
    wrong_type = teacher_api.post("/api/incidents/", data="x", content_type="text/plain")
    assert wrong_type.status_code == 415
    assert wrong_type.json()["errors"][0]["code"] == "unsupported_media_type"


def test_401_shares_the_shape(db):
    response = Client().get("/api/incidents/")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "not_authenticated"


def test_409_shares_the_shape_and_keeps_the_state(admin_api):
    published = admin_api.post("/api/rulesets/1/publish/")
    assert published.status_code == 409
    body = published.json()
    assert body["status"] == "published"
    assert body["errors"] == [{"code": "conflict", "message": body["detail"]}]


@pytest.fixture
def schema(teacher):
    client = APIClient()
    client.force_authenticate(teacher)
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_every_operation_declares_its_error_answers(schema):
    operations = [
        (path, method, op)
        for path, methods in schema["paths"].items()
        for method, op in methods.items()
    ]
    assert len(operations) > 15
    for path, method, op in operations:
        codes = set(op["responses"])
        assert {"401", "403", "405", "429"} <= codes, (path, method)
        if "{" in path:
            assert "404" in codes, (path, method)
        if method in ("post", "put", "patch"):
            assert {"400", "413", "415"} <= codes, (path, method)
        error = op["responses"]["403"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/Error"}
    assert "422" in schema["paths"]["/api/incidents/"]["post"]["responses"]
    assert "409" in schema["paths"]["/api/queue-items/{id}/claim/"]["post"]["responses"]
    assert schema["components"]["schemas"]["Error"]["required"] == ["errors"]


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ("RuleSet", "created_by"),
        ("RuleSet", "published_by"),
        ("InvolvedStudentOut", "student_id"),
        ("TimelineEvent", "actor"),
        ("QueueItem", "owner"),
    ],
)
def test_the_five_nullable_fields_are_declared_nullable(schema, component, field):
    assert schema["components"]["schemas"][component]["properties"][field]["nullable"] is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("\t=HYPERLINK(1)", "'\t=HYPERLINK(1)"),
        ("\r=1+1", "'\r=1+1"),
        ("=1", "'=1"),
        ("Lincoln", "Lincoln"),
    ],
)
def test_csv_cells_starting_with_tab_or_cr_are_neutralised(value, expected):
    assert csv_cell(value) == expected
