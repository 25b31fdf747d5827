import re
import zoneinfo
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from incidents import services
from incidents.models import AccessLogEntry, Incident, IncidentStudent, TimelineEvent
from tests.factories import SchoolFactory, StudentFactory, user_with_role

NEW = "/incidents/new/"
NARRATIVE = "Jordan pushed a chair over and ran to the hallway.\nNobody was hurt."


@pytest.fixture
def teacher(school):
    return user_with_role("teacher", school, username="t1")


@pytest.fixture
def client_for():
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def jordan(school):
    return StudentFactory(
        school=school, student_id="WAS9001", first_name="Jordan", last_name="Rivera"
    )


def form_data(school, **overrides) -> dict:
    data = {
        "narrative": NARRATIVE,
        "category": "disruption",
        "school": school.code,
        "danger_now": "none",
        "location": "classroom",
        "weapon": "none",
        "injury": "none",
        "threat": "none",
        "threat_words": "",
        "student_state": "upset",
        "with_now": "teacher",
        "idempotency_key": "key-1",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def local_input(moment, school) -> str:
    zone = zoneinfo.ZoneInfo(school.district.timezone)
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def test_form_renders_banner_labels_and_a_fresh_key(client_for, teacher, school):
    response = client_for(teacher).get(NEW)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="banner-emergency"' in html
    assert (
        '<a href="tel:911" class="call-911">Call 911</a> and use your school\'s emergency '
        "alert first" in html
    )
    assert '<label for="id_narrative">What happened, in your own words</label>' in html
    assert '<label for="student-search">Find a student by name or ID</label>' in html
    assert (
        '<legend>Is anyone in danger right now? <span class="required">(required)</span></legend>'
        in html
    )
    assert f'<option value="{school.code}" selected>' in html
    key = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', html)
    assert key is not None
    second = client_for(teacher).get(NEW).content.decode()
    assert key.group(1) not in second


def test_valid_post_files_one_incident_and_redirects(client_for, teacher, school, jordan):
    occurred = timezone.now() - timedelta(minutes=20)
    data = form_data(
        school,
        occurred_at=local_input(occurred, school),
        **{
            "students-0-student_id": "WAS9001",
            "students-0-role": "subject",
            "students-3-name": "Visitor Kid",
            "students-3-age": "9",
            "students-3-role": "witness",
        },
    )
    response = client_for(teacher).post(NEW, data, follow=True)

    incident = Incident.objects.get()
    assert response.redirect_chain == [(f"/incidents/{incident.pk}/", 302)]
    assert "Incident filed" in response.content.decode()
    assert incident.filed_by == teacher
    assert incident.school == school
    assert incident.narrative == NARRATIVE
    assert incident.category == "disruption"
    assert incident.location == "classroom"
    assert incident.student_state == "upset"
    assert incident.with_now == "teacher"
    assert incident.idempotency_key == "key-1"
    assert abs(incident.occurred_at - occurred) < timedelta(minutes=1)
    involved = list(IncidentStudent.objects.filter(incident=incident).order_by("id"))
    assert [(s.student, s.name, s.age, s.role) for s in involved] == [
        (jordan, "", None, "subject"),
        (None, "Visitor Kid", 9, "witness"),
    ]


def test_the_same_key_twice_files_one_incident(client_for, teacher, school):
    client = client_for(teacher)
    first = client.post(NEW, form_data(school, idempotency_key="double-click"))
    second = client.post(NEW, form_data(school, idempotency_key="double-click"))

    incident = Incident.objects.get()
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == f"/incidents/{incident.pk}/"


@pytest.mark.parametrize(
    ("overrides", "field_id", "message"),
    [
        ({"narrative": ""}, "id_narrative", "Describe what happened in your own words."),
        ({"narrative": "   \n "}, "id_narrative", "Describe what happened in your own words."),
        ({"category": "food_fight"}, "id_category", "Choose what kind of incident this is"),
        ({"category": ""}, "id_category", "Choose what kind of incident this is."),
        ({"occurred_at": "tomorrow-ish"}, "id_occurred_at", "Give the date and time it happened"),
        ({"threat": "maybe"}, "id_threat_0", "Choose one of the answers shown."),
    ],
)
def test_invalid_field_shows_error_next_to_it_keeps_input_and_files_nothing(
    client_for, teacher, school, overrides, field_id, message
):
    data = form_data(school, **overrides)
    if "narrative" not in overrides:
        data["narrative"] = "<b>kept</b> as typed"
    response = client_for(teacher).post(NEW, data)

    html = response.content.decode()
    assert response.status_code == 200
    assert Incident.objects.count() == 0
    assert 'class="error-summary"' in html
    assert f'href="#{field_id}"' in html
    assert 'name="idempotency_key" value="key-1"' in html
    base_id = field_id.removesuffix("_0")
    assert f'<ul class="errorlist" id="{base_id}_error"><li>{message}' in html
    if field_id != "id_threat_0":
        tag = re.search(rf'<(?:input|select|textarea)[^>]*id="{field_id}"[^>]*>', html).group(0)
        assert 'aria-invalid="true"' in tag
        assert f"{base_id}_error" in tag
    if "narrative" not in overrides:
        assert "&lt;b&gt;kept&lt;/b&gt; as typed</textarea>" in html


def test_a_future_time_is_refused(client_for, teacher, school):
    later = local_input(timezone.now() + timedelta(minutes=30), school)
    response = client_for(teacher).post(NEW, form_data(school, occurred_at=later))

    html = response.content.decode()
    assert Incident.objects.count() == 0
    assert (
        '<ul class="errorlist" id="id_occurred_at_error">'
        "<li>This time is in the future; give when it happened.</li></ul>"
    ) in html
    assert f'value="{later}"' in html
    assert '<details class="more" id="more-details" open>' in html
    assert NARRATIVE in html


def test_a_few_minutes_of_clock_skew_is_accepted(client_for, teacher, school):
    soon = local_input(timezone.now() + timedelta(minutes=3), school)
    response = client_for(teacher).post(NEW, form_data(school, occurred_at=soon))

    assert response.status_code == 302
    assert Incident.objects.count() == 1


@pytest.mark.parametrize(
    ("student_id", "message"),
    [
        ("NOPE123", "No student &quot;NOPE123&quot; on the roster of WAS-MS."),
        ("JEF0001", "No student &quot;JEF0001&quot; on the roster of WAS-MS."),
    ],
)
def test_a_student_who_cannot_be_involved_is_refused_and_the_list_is_kept(
    client_for, teacher, school, other_school, jordan, student_id, message
):
    StudentFactory(school=other_school, student_id="JEF0001")
    data = form_data(
        school,
        **{
            "students-0-student_id": "WAS9001",
            "students-0-role": "target",
            "students-1-student_id": student_id,
            "students-1-role": "subject",
        },
    )
    response = client_for(teacher).post(NEW, data)

    html = response.content.decode()
    assert response.status_code == 200
    assert Incident.objects.count() == 0
    assert f'<ul class="errorlist" id="student-1-error"><li>{message}</li></ul>' in html
    assert 'href="#student-1-role"' in html
    # Both rows come back, with their roles, and the roster name of the one that is fine.
    assert 'name="students-0-student_id" value="WAS9001"' in html
    assert '<span class="chosen-name">Jordan Rivera</span>' in html
    assert '<option value="target" selected>' in html
    assert f'name="students-1-student_id" value="{student_id}"' in html
    # A student of a school where the teacher has no role is not named back to them.
    assert "Jamie Student" not in html
    assert NARRATIVE in html


def test_a_school_without_a_role_is_refused(client_for, teacher, school, other_school):
    response = client_for(teacher).post(NEW, form_data(other_school))

    html = response.content.decode()
    assert response.status_code == 200
    assert Incident.objects.count() == 0
    assert '<ul class="errorlist" id="id_school_error"><li>You can only report for a school' in html
    assert f'value="{other_school.code}"' not in html


def test_a_person_without_any_role_cannot_file(client_for, school):
    nobody = user_with_role("teacher", username="nobody")
    response = client_for(nobody).post(NEW, form_data(school))

    assert response.status_code == 200
    assert "You can only report for a school where you work" in response.content.decode()
    assert Incident.objects.count() == 0


def test_the_pages_need_a_sign_in(client, school):
    response = client.post(NEW, form_data(school))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert Incident.objects.count() == 0


def test_html_in_the_narrative_is_stored_verbatim_and_shown_escaped(client_for, teacher, school):
    text = '<script>alert("x")</script> & <b>bold</b>'
    client = client_for(teacher)
    response = client.post(NEW, form_data(school, narrative=text, threat_words="<i>w</i>"))
    incident = Incident.objects.get()
    assert incident.narrative == text

    html = client.get(response["Location"]).content.decode()
    assert (
        '<p class="narrative">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; '
        "&lt;b&gt;bold&lt;/b&gt;</p>"
    ) in html
    assert "&lt;i&gt;w&lt;/i&gt;" in html
    assert "<script>alert" not in html


def test_detail_shows_facts_students_route_and_public_timeline_only(
    client_for, teacher, school, jordan
):
    incident, _ = services.incident_file(
        reporter=teacher,
        school=school,
        category="threat",
        narrative="Said they would bring something.",
        weapon="object_used_as_weapon",
        students=[services.InvolvedStudent(role="subject", student=jordan)],
    )
    Incident.objects.filter(pk=incident.pk).update(
        route="counselor", routed_at=timezone.now(), status="routed"
    )
    services.timeline_record(
        incident=incident, kind="note", private=True, text="Private responder note"
    )
    response = client_for(teacher).get(f"/incidents/{incident.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "An everyday object used as a weapon" in html
    assert "Jordan Rivera: Involved in the behaviour" in html
    assert "WAS9001" not in html
    assert '<span class="badge route-counselor">Counselor</span>' in html
    assert "Routed to a responder" in html
    assert "<strong>Filed</strong>" in html
    assert "Note added" not in html
    assert "Private responder note" not in html
    assert "data-poll" not in html
    assert TimelineEvent.objects.filter(incident=incident).count() == 2


def test_opening_someone_elses_report_is_logged_and_the_reporters_own_is_not(
    client_for, teacher, school
):
    admin = user_with_role("district_admin", school, username="da")
    incident, _ = services.incident_file(
        reporter=teacher, school=school, category="other", narrative="x"
    )

    assert client_for(teacher).get(f"/incidents/{incident.pk}/").status_code == 200
    assert AccessLogEntry.objects.count() == 0
    assert client_for(admin).get(f"/incidents/{incident.pk}/").status_code == 200
    entry = AccessLogEntry.objects.get()
    assert (entry.user, entry.incident, entry.action) == (admin, incident, "view_incident")


def test_status_part_is_what_the_live_page_reloads(client_for, teacher, school):
    incident, _ = services.incident_file(
        reporter=teacher, school=school, category="other", narrative="x"
    )
    client = client_for(teacher)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert (
        f'data-events-url="/incidents/{incident.pk}/events/" '
        f'data-status-url="/incidents/{incident.pk}/?part=status"'
    ) in page
    part = client.get(f"/incidents/{incident.pk}/?part=status").content.decode()
    assert part.startswith('<section class="incident-status" id="incident-status"')
    assert "Received" in part
    assert "<h1>" not in part

    Incident.objects.filter(pk=incident.pk).update(
        route="administrator", routed_at=timezone.now(), status="routed"
    )
    part = client.get(f"/incidents/{incident.pk}/?part=status").content.decode()
    assert "Administrator" in part


def test_another_teachers_incident_is_404(client_for, teacher, school):
    other = user_with_role("teacher", school, username="t2")
    incident, _ = services.incident_file(
        reporter=other, school=school, category="other", narrative="Theirs"
    )

    assert client_for(teacher).get(f"/incidents/{incident.pk}/").status_code == 404
    assert client_for(teacher).get(f"/incidents/{incident.pk}/?part=status").status_code == 404
    assert client_for(other).get(f"/incidents/{incident.pk}/").status_code == 200


def test_student_search_returns_only_that_schools_students(
    client_for, teacher, school, other_school, jordan
):
    StudentFactory(school=other_school, student_id="JEF0001", last_name="Rivera")
    StudentFactory(school=school, student_id="WAS0002", last_name="Smith")
    client = client_for(teacher)

    response = client.get("/incidents/students/", {"school": "WAS-MS", "q": "rivera"})
    assert response.status_code == 200
    assert response.json() == [
        {
            "student_id": "WAS9001",
            "name": "Jordan Rivera",
            "grade": "6",
            "school": "WAS-MS",
            "school_name": school.name,
        }
    ]
    assert "no-store" in response["Cache-Control"]
    assert client.get("/incidents/students/", {"school": "WAS-MS", "q": " "}).json() == []


def test_student_search_refuses_a_school_without_a_role(client, client_for, teacher, other_school):
    StudentFactory(school=other_school, student_id="JEF0001", last_name="Rivera")

    response = client_for(teacher).get("/incidents/students/", {"school": "JEF-HS", "q": "Rivera"})
    assert response.status_code == 403
    assert "JEF0001" not in response.content.decode()
    unknown = client_for(teacher).get("/incidents/students/", {"school": "XX", "q": "Rivera"})
    assert unknown.status_code == 403
    anonymous = client.get("/incidents/students/", {"school": "JEF-HS", "q": "Rivera"})
    assert anonymous.status_code == 403


def test_my_incidents_lists_only_mine_newest_first(client_for, teacher, school):
    other = user_with_role("teacher", school, username="t2")
    older, _ = services.incident_file(
        reporter=teacher, school=school, category="theft", narrative="a"
    )
    newer, _ = services.incident_file(
        reporter=teacher, school=school, category="vandalism", narrative="b"
    )
    theirs, _ = services.incident_file(
        reporter=other, school=school, category="other", narrative="c"
    )
    response = client_for(teacher).get("/incidents/mine/")

    html = response.content.decode()
    links = re.findall(r'href="/incidents/(\d+)/"', html)
    assert links == [str(newer.pk), str(older.pk)]
    assert "Vandalism" in html and "Theft" in html
    assert f"/incidents/{theirs.pk}/" not in html


def test_my_incidents_is_paginated_and_has_an_empty_state(client_for, teacher, school):
    client = client_for(teacher)
    empty = client.get("/incidents/mine/").content.decode()
    assert "You have not reported any incidents yet." in empty

    for n in range(26):
        services.incident_file(reporter=teacher, school=school, category="other", narrative=str(n))
    first = client.get("/incidents/mine/").content.decode()
    second = client.get("/incidents/mine/?page=2").content.decode()
    assert len(re.findall(r'href="/incidents/\d+/"', first)) == 25
    assert len(re.findall(r'href="/incidents/\d+/"', second)) == 1
    assert "Page 1 of 2" in first


def test_home_links_to_the_new_pages(client_for, teacher):
    html = client_for(teacher).get("/").content.decode()

    assert '<a class="card" href="/incidents/new/">Report an incident</a>' in html
    assert '<a class="card" href="/incidents/mine/">My incidents</a>' in html


# --------------------------------------------------------------------------- issue 12


SAFETY_RADIOS = ("danger_now", "weapon", "injury", "threat", "student_state")


def test_no_safety_question_is_pre_answered_and_each_answer_says_what_it_leads_to(
    client_for, teacher
):
    html = client_for(teacher).get(NEW).content.decode()

    for name in SAFETY_RADIOS:
        radios = re.findall(rf'<input type="radio" name="{name}"[^>]*>', html)
        assert len(radios) >= 4, name
        assert not [r for r in radios if " checked" in r], name
        assert f'value="unknown" id="id_{name}_' in html, name
    assert '<option value="" selected>Choose, if you know</option>' in html
    assert "Other people are in danger right now: the school resource officer is sent." in html
    assert 'id="id_danger_now_2_hint"' in html
    assert "More about what happened (optional)" not in html


def test_danger_right_now_must_be_answered(client_for, teacher, school):
    response = client_for(teacher).post(NEW, form_data(school, danger_now=None))

    html = response.content.decode()
    assert Incident.objects.count() == 0
    assert (
        '<ul class="errorlist" id="id_danger_now_error"><li>Say whether anyone is in danger '
        "right now. If you do not know, choose &quot;Not sure&quot;.</li></ul>"
    ) in html


def test_unanswered_questions_are_filed_as_unknown(client_for, teacher, school):
    data = form_data(school, weapon=None, injury=None, threat=None, student_state=None, with_now="")
    response = client_for(teacher).post(NEW, data)

    assert response.status_code == 302
    incident = Incident.objects.get()
    assert (
        incident.weapon,
        incident.injury,
        incident.threat,
        incident.danger_now,
        incident.student_state,
        incident.with_now,
    ) == ("unknown", "unknown", "unknown", "none", "unknown", "unknown")


GUN = "A student says another student has a gun in his backpack"


@pytest.mark.parametrize("weapon", ["none", None])
def test_a_gun_in_the_narrative_asks_the_weapon_question_again_once(
    client_for, teacher, school, weapon
):
    client = client_for(teacher)
    data = form_data(school, narrative=GUN, category="weapon", weapon=weapon)

    first = client.post(NEW, data)

    html = first.content.decode()
    assert first.status_code == 200
    assert Incident.objects.count() == 0
    assert (
        '<ul class="errorlist" id="id_weapon_error"><li>You wrote \u201cgun\u201d. Was there a '
        "weapon? Choose what kind, or &quot;Not sure&quot;."
    ) in html
    assert 'href="#id_weapon_0"' in html
    assert '<input type="hidden" name="asked_again" value="weapon">' in html

    # Asked once: the answer given now is what is filed (a cue never blocks for good).
    second = client.post(NEW, {**data, "asked_again": "weapon"})
    assert second.status_code == 302
    assert Incident.objects.get().weapon == (weapon or "unknown")


def test_a_spanish_cue_asks_again_and_a_weapon_answer_is_not_doubted(client_for, teacher, school):
    client = client_for(teacher)
    spanish = form_data(school, narrative="Dice que tiene una pistola", weapon="none")
    assert client.post(NEW, spanish).status_code == 200
    assert Incident.objects.count() == 0

    answered = form_data(school, narrative=GUN, category="weapon", weapon="firearm")
    assert client.post(NEW, answered).status_code == 302
    assert Incident.objects.get().weapon == "firearm"


def test_several_schools_none_pre_selected_and_the_last_used_listed_first(
    client_for, school, other_school
):
    third = SchoolFactory(
        district=school.district, code="LIN-ES", name="Lincoln Elementary", grade_low=0
    )
    teacher = user_with_role("teacher", school, other_school, third, username="t3")
    client = client_for(teacher)

    def school_select(html):
        return html.split('id="id_school"')[1].split("</select>")[0]

    first = school_select(client.get(NEW).content.decode())
    assert re.findall(r"<option[^>]*selected", first) == ['<option value="" selected']

    services.incident_file(reporter=teacher, school=third, category="theft", narrative="a")
    later = school_select(client.get(NEW).content.decode())
    assert re.findall(r'<option value="([^"]*)"', later) == ["", "LIN-ES", "JEF-HS", "WAS-MS"]
    assert ">Lincoln Elementary (last used)</option>" in later
    assert re.findall(r"<option[^>]*selected", later) == ['<option value="" selected']


def test_student_search_without_a_school_looks_across_all_of_mine(
    client_for, school, other_school, jordan
):
    teacher = user_with_role("teacher", school, other_school, username="t4")
    StudentFactory(school=other_school, student_id="JEF0001", last_name="Rivera")
    elsewhere = StudentFactory(student_id="ELS0001", last_name="Rivera")  # no role there

    found = client_for(teacher).get("/incidents/students/", {"q": "rivera"}).json()

    assert sorted((s["student_id"], s["school"]) for s in found) == [
        ("JEF0001", "JEF-HS"),
        ("WAS9001", "WAS-MS"),
    ]
    assert elsewhere.student_id not in str(found)
