import csv
import io
import json
import re
from datetime import timedelta

from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import Event
from audit.services import event_record

from .conftest import table_text

EVENTS = reverse("console:events")


def export_url(format):
    return reverse("console:events_export", args=[format])


def provision(
    organization, user, *, tenant="t1", actor=None, type="user_create_provision", **fields
):
    return event_record(
        organization=organization,
        type=type,
        actor=actor,
        target=user,
        tenant_ref=tenant,
        tenant_label=f"Tenant {tenant}",
        **fields,
    )


def download(response) -> str:
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


def filter_errors(response) -> dict[str, str]:
    return dict(re.findall(r'data-field="(\w+)">(.*?)</p>', response.content.decode()))


def test_it_filters_by_user_id_or_email(alice_client, acme, alice, bob):
    provision(acme, bob, type="user_deprovision")
    provision(acme, alice, type="user_reactivate_provision")
    for user in ("bob@acme.example", str(bob.pk)):
        table = table_text(alice_client.get(EVENTS, {"user": user}))
        assert "user_deprovision" in table and "user_reactivate_provision" not in table


def test_it_filters_by_tenant_chosen_from_the_tenants_in_the_log(alice_client, acme, bob):
    provision(acme, bob, tenant="t1", type="user_deprovision")
    provision(acme, bob, tenant="t2", type="user_reactivate_provision")
    page = alice_client.get(EVENTS).content.decode()
    assert '<option value="t1">Tenant t1</option>' in page
    assert '<option value="t2">Tenant t2</option>' in page
    table = table_text(alice_client.get(EVENTS, {"tenant": "t2"}))
    assert "user_reactivate_provision" in table and "user_deprovision" not in table
    assert "Tenant t2" in table


def test_it_filters_by_actor(alice_client, acme, alice, bob):
    provision(acme, bob, type="user_deprovision")
    provision(acme, bob, type="user_reactivate_provision", actor=alice)
    table = table_text(alice_client.get(EVENTS, {"actor": "system"}))
    assert "user_deprovision" in table and "user_reactivate_provision" not in table


def test_it_filters_by_days_with_to_including_its_day(alice_client, acme, bob):
    provision(acme, bob, type="user_deprovision")
    today = timezone.localdate()
    within = {"since": today.isoformat(), "until": today.isoformat()}
    assert "user_deprovision" in table_text(alice_client.get(EVENTS, within))
    yesterday = (today - timedelta(days=1)).isoformat()
    assert "user_deprovision" not in table_text(alice_client.get(EVENTS, {"until": yesterday}))
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert "user_deprovision" not in table_text(alice_client.get(EVENTS, {"since": tomorrow}))


def test_a_bad_date_is_an_error_naming_the_field(alice_client, bob):
    response = alice_client.get(EVENTS, {"since": "yesterday", "until": "2026-02-30"})
    assert response.status_code == 400
    assert filter_errors(response) == {
        "since": "From: Enter a date such as 2026-05-01.",
        "until": "To: Enter a date such as 2026-05-01.",
    }
    assert "<table" not in response.content.decode()  # no list that ignores the filter
    assert b"Export CSV" not in response.content


def test_to_before_from_is_an_error_naming_to(alice_client):
    response = alice_client.get(EVENTS, {"since": "2026-05-02", "until": "2026-05-01"})
    assert response.status_code == 400
    assert filter_errors(response) == {"until": "To: Must be the same day as From or later."}


def test_filters_stay_in_the_paging_links_and_the_export_buttons(alice_client, acme, bob):
    Event.objects.bulk_create(
        Event(organization=acme, type="bulk", actor_label="system", tenant_ref="t1")
        for _ in range(60)
    )
    page = alice_client.get(EVENTS, {"type": "bulk", "tenant": "t1"}).content.decode()
    assert 'href="?type=bulk&amp;tenant=t1&amp;page=2" rel="next"' in page
    assert f'href="{export_url("csv")}?type=bulk&amp;tenant=t1"' in page
    page_two = alice_client.get(EVENTS, {"type": "bulk", "tenant": "t1", "page": 2})
    assert f'href="{export_url("json")}?type=bulk&amp;tenant=t1"' in page_two.content.decode()


def test_export_csv_is_exactly_the_filtered_list(alice_client, acme, alice, bob):
    provision(
        acme,
        bob,
        tenant="t1",
        type="user_password_update_provision",
        outcome=Event.FAILURE,
        details={"code": "PasswordTooWeak", "message": "Too weak", "request_id": "r1"},
    )
    provision(acme, alice, tenant="t1", type="user_password_update_provision")
    response = alice_client.get(export_url("csv"), {"outcome": "failure", "tenant": "t1"})
    assert response["Content-Disposition"].startswith('attachment; filename="stratus-events-acme')
    rows = list(csv.DictReader(io.StringIO(download(response))))
    assert [(r["type"], r["target_label"], r["outcome"]) for r in rows] == [
        ("user_password_update_provision", "bob@acme.example", "failure")
    ]
    assert json.loads(rows[0]["details"]) == {
        "code": "PasswordTooWeak",
        "message": "Too weak",
        "request_id": "r1",
    }


def test_export_json_is_exactly_the_filtered_list(alice_client, acme, alice, bob):
    provision(acme, bob, type="user_deprovision")
    provision(acme, alice, type="user_deprovision")
    response = alice_client.get(export_url("json"), {"user": "bob@acme.example"})
    assert response["Content-Type"] == "application/json"
    events = json.loads(download(response))
    assert events and {e["target_label"] for e in events} == {"bob@acme.example"}
    assert "user_deprovision" in [e["type"] for e in events]


def test_export_defuses_formulas(alice_client, acme):
    event_record(
        organization=acme,
        type="odd",
        target_type="group",
        target_id="1",
        target_label="@SUM(1+1)*cmd|' /C calc'!A0",
    )
    rows = list(
        csv.DictReader(io.StringIO(download(alice_client.get(export_url("csv"), {"type": "odd"}))))
    )
    assert rows[0]["target_label"] == "'@SUM(1+1)*cmd|' /C calc'!A0"


def test_export_with_a_bad_date_shows_the_error_instead(alice_client):
    response = alice_client.get(export_url("csv"), {"until": "soon"})
    assert response.status_code == 400
    assert filter_errors(response) == {"until": "To: Enter a date such as 2026-05-01."}


def test_an_unknown_export_format_is_not_found(alice_client):
    assert alice_client.get(export_url("xlsx")).status_code == 404


def test_another_organizations_admin_never_sees_acmes_events(charlie_client, acme, alice, bob):
    provision(acme, bob, tenant="acme-tenant")
    page = charlie_client.get(EVENTS).content.decode()
    assert "acme" not in page.lower()
    for filters in (
        {},
        {"user": "bob@acme.example"},
        {"user": str(bob.pk)},
        {"tenant": "acme-tenant"},
        {"actor": "alice@acme.example"},
    ):
        assert "acme" not in table_text(charlie_client.get(EVENTS, filters)).lower()
        for format in ("csv", "json"):
            assert "acme" not in download(charlie_client.get(export_url(format), filters))


def test_a_member_gets_no_access(client, bob):
    client.force_login(bob)
    for url in (EVENTS, export_url("csv"), export_url("json")):
        assert client.get(url).status_code == 403


def test_a_failure_shows_microsofts_code_and_message(alice_client, acme, bob):
    provision(
        acme,
        bob,
        outcome=Event.FAILURE,
        details={
            "code": "Request_BadRequest",
            "message": "Domain not verified",
            "request_id": "r2",
        },
    )
    table = table_text(alice_client.get(EVENTS, {"outcome": "failure"}))
    assert "Request_BadRequest" in table and "Domain not verified" in table


def test_the_page_takes_as_many_queries_with_many_events_as_with_few(alice_client, acme, bob):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = alice_client.get(EVENTS, {"tenant": "t1", "user": "bob@acme.example"})
        assert response.status_code == 200
        return len(captured)

    def add(count):
        Event.objects.bulk_create(
            Event(
                organization=acme,
                type=f"bulk_{n % 4}",
                actor_label="system",
                target_type="user",
                target_id=str(bob.pk),
                target_label="bob@acme.example",
                tenant_ref=f"t{n % 3}",
                tenant_label=f"Tenant {n % 3}",
            )
            for n in range(count)
        )

    add(180)  # more than a page for t1, so both requests below count their total
    few = queries()
    add(400)
    assert queries() == few


def test_the_events_pages_only_read(alice_client):
    for url in (EVENTS, export_url("csv")):
        assert alice_client.post(url, {"type": "forged"}).status_code == 405
