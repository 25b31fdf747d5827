"""The deflection view against hand-computed examples: police contacts per 1,000 students by
month and school, what the SRO side ended in (co-responder vs SRO alone, under 12, with a
disability), overrides toward and away from the SRO by group, suppression, and who may see it."""

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from reports.deflection import deflection_figures
from reports.scope import EquityFilter
from reports.suppression import SUPPRESSED
from schools.models import Role
from tests.factories import StudentFactory, user_with_role
from tests.reports.helpers import routed_incident

DENVER = ZoneInfo("America/Denver")
OCTOBER = datetime(2025, 10, 15, 10, 0, tzinfo=DENVER)
NOVEMBER = datetime(2025, 11, 4, 10, 0, tzinfo=DENVER)
YEAR = (date(2025, 8, 1), date(2026, 7, 31))


def figures_for(district, *schools):
    return deflection_figures(
        EquityFilter(district=district, schools=schools, start=YEAR[0], end=YEAR[1])
    )


def kids(school, n, **attrs):
    return [StudentFactory(school=school, **attrs) for _ in range(n)]


def by_key(rows):
    return {row.key: row for row in rows}


def test_police_contacts_per_thousand_by_month_and_school(district, school, other_school):
    roster_a = kids(school, 400)
    kids(other_school, 100)
    # October at WAS-MS: 12 routed to the SRO (2 arrests), 3 notified, 2 handed off to the SRO.
    for i in range(12):
        routed_incident(
            school, "sro", subjects=[roster_a[i]], when=OCTOBER, outcome="arrest" if i < 2 else ""
        )
    for _ in range(3):
        routed_incident(school, "administrator", when=OCTOBER, notify=["sro"])
    for _ in range(2):
        routed_incident(school, "counselor", when=OCTOBER, handoff_to="sro")
    # Not police contacts: co-responders alone, a counselor notified, an arrest outcome alone.
    routed_incident(school, "co_responder", when=OCTOBER)
    routed_incident(school, "administrator", when=OCTOBER, notify=["counselor"])
    routed_incident(school, "administrator", when=OCTOBER, outcome="arrest")
    # November at JEF-HS: 11 routed to the SRO.
    for _ in range(11):
        routed_incident(other_school, "sro", when=NOVEMBER)

    figures = figures_for(district, school, other_school)

    assert (figures.total.enrolled, figures.total.contacts, figures.total.arrests) == (500, 28, 2)
    assert figures.total.display["rate"] == "56.0"  # 28 / 500 x 1,000
    months = by_key(figures.by_month)
    assert len(figures.by_month) == 12
    assert (months["2025-10-01"].contacts, months["2025-11-01"].contacts) == (17, 11)
    assert months["2025-10-01"].display == {
        "enrolled": "500",
        "contacts": "17",
        "arrests": SUPPRESSED,
        "rate": "34.0",
    }
    # The ten other months are zeros (small, hidden); 17 + 11 shown would add up to the shown
    # 28 and give them away, so the 11 is hidden with them, and its rate (22.0) with it.
    assert months["2025-11-01"].display["contacts"] == months["2025-11-01"].display["rate"]
    assert months["2025-11-01"].display["rate"] == SUPPRESSED
    assert months["2025-12-01"].display["contacts"] == SUPPRESSED
    schools = by_key(figures.by_school)
    assert schools["WAS-MS"].display == {
        "enrolled": "400",
        "contacts": "17",
        "arrests": SUPPRESSED,
        "rate": "42.5",
    }
    assert schools["JEF-HS"].display == {
        "enrolled": "100",
        "contacts": "11",
        "arrests": SUPPRESSED,
        "rate": "110.0",
    }


def test_what_the_sro_side_ended_in_by_team_age_and_disability(district, school):
    young = kids(school, 11, birth_date=date(2014, 3, 1))  # 11 in October 2025
    older = kids(school, 12, birth_date=date(2012, 3, 1))  # 13
    with_iep = kids(school, 12, birth_date=date(2012, 3, 1), iep=True)
    # SRO alone: 11 young students arrested or cited; 12 older students given support.
    for i, kid in enumerate(young):
        routed_incident(
            school, "sro", subjects=[kid], when=OCTOBER, outcome="arrest" if i % 2 else "citation"
        )
    for kid in older:
        routed_incident(school, "sro", subjects=[kid], when=OCTOBER, outcome="counseling_provided")
    # Co-responders: 12 with an IEP, 6 routed there and 6 handed off there by administrators;
    # outcomes: 11 safety plans (support), 1 not resolved.
    for i, kid in enumerate(with_iep):
        outcome = "safety_plan" if i < 11 else ""
        if i < 6:
            routed_incident(school, "co_responder", subjects=[kid], when=OCTOBER, outcome=outcome)
        else:
            routed_incident(
                school,
                "administrator",
                subjects=[kid],
                when=OCTOBER,
                handoff_to="co_responder",
                outcome=outcome,
            )
    # Not the SRO side: an arrest outcome on an administrator's item alone.
    routed_incident(school, "administrator", subjects=[older[0]], when=OCTOBER, outcome="arrest")

    rows = by_key(figures_for(district, school).endings)

    sro_all = rows["sro-all"]
    assert (sro_all.incidents, sro_all.arrest_citation, sro_all.support, sro_all.open) == (
        23,
        11,
        12,
        0,
    )
    # 11 + 12 = 23 with two zeros: the 11 is hidden with the zeros, the 12 (52%) shown.
    assert sro_all.display["arrest_citation_share"] == SUPPRESSED
    assert (sro_all.display["support"], sro_all.display["support_share"]) == ("12", "52%")
    assert (rows["sro-under12"].incidents, rows["sro-under12"].arrest_citation) == (11, 11)
    assert rows["sro-under12"].display["incidents"] == "11"
    assert rows["sro-under12"].display["arrest_citation"] == SUPPRESSED
    assert rows["sro-disability"].incidents == 0
    co_all = rows["co-all"]
    assert (co_all.incidents, co_all.support, co_all.open, co_all.arrest_citation) == (12, 11, 1, 0)
    assert rows["co-disability"].incidents == 12
    assert rows["co-under12"].incidents == 0
    # Suppression: 1 not resolved and 0 arrests are small; hidden together (1 + 0 <= 10, so
    # the 11 support is hidden too, or 12 - 11 would give them away).
    assert co_all.display["incidents"] == "12"
    assert co_all.display["open"] == co_all.display["arrest_citation"] == SUPPRESSED
    assert co_all.display["support"] == SUPPRESSED
    assert co_all.display["support_share"] == SUPPRESSED


def test_overrides_toward_and_away_from_the_sro_by_group(district, school):
    plain = kids(school, 11, race_ethnicity="BL")
    idea = kids(school, 12, race_ethnicity="WH", iep=True)
    for kid in plain:  # administrator -> SRO: toward
        routed_incident(school, "administrator", subjects=[kid], when=OCTOBER, handoff_to="sro")
    for kid in idea:  # SRO -> counselor: away
        routed_incident(school, "sro", subjects=[kid], when=OCTOBER, handoff_to="counselor")
    routed_incident(school, "co_responder", when=OCTOBER, handoff_to="sro")  # toward, no roster
    routed_incident(school, "sro", subjects=[idea[0]], when=OCTOBER, handoff_to="co_responder")
    routed_incident(
        school, "counselor", subjects=[plain[0]], when=OCTOBER, handoff_to="administrator"
    )

    figures = figures_for(district, school)
    rows = by_key(figures.overrides)

    assert (figures.overrides_total.toward, figures.overrides_total.away) == (12, 13)
    assert (rows["none"].toward, rows["none"].away) == (11, 0)
    assert (rows["idea"].toward, rows["idea"].away) == (0, 13)
    assert (rows["BL"].toward, rows["WH"].away, rows["unrostered"].toward) == (11, 13, 1)
    # 11 toward shown with the total 12 would give the 1 away; 13 away is the whole total 13.
    assert rows["none"].display["toward"] == SUPPRESSED
    assert rows["idea"].display["away"] == SUPPRESSED
    assert (rows["BL"].display["toward"], rows["WH"].display["away"]) == (SUPPRESSED, SUPPRESSED)
    assert rows["unrostered"].display["toward"] == SUPPRESSED


def test_the_page_shows_each_chart_with_its_table(client, district, school):
    kids(school, 20)
    for _ in range(12):
        routed_incident(school, "sro", when=OCTOBER)
    client.force_login(user_with_role(Role.ADMINISTRATOR, school))

    response = client.get("/reports/deflection/", {"year": "2025"})

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<svg class="chart"') == 6
    assert html.count("<table>") == 4
    assert "Police contacts per 1,000 students" in html
    assert "600.0" in html  # 12 contacts for 20 students
    assert not re.search(r"\sstyle=|<style", html)


@pytest.mark.parametrize("role", [Role.TEACHER, Role.COUNSELOR, Role.CLINICIAN, Role.SRO])
def test_other_roles_get_403(client, school, role):
    client.force_login(user_with_role(role, school))
    assert client.get("/reports/deflection/").status_code == 403


def test_report_pages_have_no_inline_styles(client, district, school):
    client.force_login(user_with_role(Role.DISTRICT_ADMIN, school))
    for url in ("/reports/equity/", "/reports/deflection/", "/reports/equity/?year=soon"):
        html = client.get(url).content.decode()
        assert not re.search(r"\sstyle=|<style|\sfill=\"#", html), url
    assert 'href="/static/css/reports.css"' in client.get("/reports/equity/").content.decode()
