import csv
import io
import json
from datetime import datetime

from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext

from audit.export import CSV_HEADER, csv_safe, event_export_response
from audit.models import Event
from audit.selectors import event_list
from audit.services import event_record


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


def export(organization, format, **filters):
    return event_export_response(
        events=event_list(organization=organization, **filters), format=format, filename="x"
    )


def test_the_csv_has_a_header_and_one_row_per_event_in_utc(acme, alice, bob):
    event = event_record(
        organization=acme,
        type="user_password_update_provision",
        actor=alice,
        target=bob,
        tenant_ref="t1",
        tenant_label="Acme EU",
        outcome=Event.FAILURE,
        details={"code": "PasswordPolicy", "message": "Too short", "request_id": "r-1"},
    )
    response = export(acme, "csv", tenant_ref="t1")
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
    rows = list(csv.reader(io.StringIO(body(response))))
    assert tuple(rows[0]) == CSV_HEADER
    assert rows[1][1].endswith("Z") and datetime.fromisoformat(rows[1][1]) == event.created_at
    assert rows[1:] == [
        [
            str(event.pk),
            rows[1][1],
            "user_password_update_provision",
            "failure",
            "alice@acme.example",
            "t1",
            "Acme EU",
            "user",
            str(bob.pk),
            "bob@acme.example",
            '{"code": "PasswordPolicy", "message": "Too short", "request_id": "r-1"}',
            "",
            "",
        ]
    ]


def test_the_json_export_is_an_array_of_events_shaped_as_the_api_lists_them(acme, alice, bob):
    event = event_record(
        organization=acme,
        type="user_deprovision",
        actor=alice,
        target=bob,
        tenant_ref="t1",
        tenant_label="Acme EU",
        details={"attributes": []},
    )
    response = export(acme, "json", type="user_deprovision")
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "application/json"
    exported = json.loads(body(response))
    created_at = exported[0]["created_at"]
    assert created_at.endswith("Z") and datetime.fromisoformat(created_at) == event.created_at
    assert exported == [
        {
            "id": event.pk,
            "created_at": created_at,
            "type": "user_deprovision",
            "outcome": "success",
            "actor_id": alice.pk,
            "actor": "alice@acme.example",
            "tenant_ref": "t1",
            "tenant_label": "Acme EU",
            "target_type": "user",
            "target_id": str(bob.pk),
            "target_label": "bob@acme.example",
            "details": {"attributes": []},
            "api_key_id": None,
            "api_key": "",
        }
    ]


def test_an_empty_export_is_a_header_or_an_empty_array(acme):
    assert body(export(acme, "csv", type="nothing")).splitlines() == [",".join(CSV_HEADER)]
    assert json.loads(body(export(acme, "json", type="nothing"))) == []


def test_cells_a_spreadsheet_would_run_as_formulas_are_defused(acme):
    for label in ('=HYPERLINK("http://evil")', "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        event_record(
            organization=acme,
            type="odd",
            target_type="group",
            target_id="1",
            target_label=label,
            tenant_label="=cmd|' /C calc'!A0",
        )
    rows = list(csv.DictReader(io.StringIO(body(export(acme, "csv", type="odd")))))
    assert len(rows) == 6
    for row in rows:
        assert row["target_label"].startswith("'") and row["tenant"].startswith("'=")
    assert csv_safe("plain") == "plain" and csv_safe("") == ""


def test_exports_cross_many_write_batches_in_order(acme):
    Event.objects.bulk_create(
        Event(organization=acme, type="bulk", actor_label="system") for _ in range(1234)
    )
    ids = list(event_list(organization=acme, type="bulk").values_list("id", flat=True))
    rows = list(csv.DictReader(io.StringIO(body(export(acme, "csv", type="bulk")))))
    assert [int(row["id"]) for row in rows] == ids
    assert [e["id"] for e in json.loads(body(export(acme, "json", type="bulk")))] == ids


def test_an_export_takes_the_same_number_of_queries_however_many_rows(acme):
    def queries_to_export(format):
        events = event_list(organization=acme, type="bulk")
        with CaptureQueriesContext(connection) as queries:
            b"".join(
                event_export_response(
                    events=events, format=format, filename="x", chunk_size=10
                ).streaming_content
            )
        return len(queries)

    Event.objects.bulk_create(
        Event(organization=acme, type="bulk", actor_label="system") for _ in range(3)
    )
    few = {format: queries_to_export(format) for format in ("csv", "json")}
    Event.objects.bulk_create(
        Event(organization=acme, type="bulk", actor_label="system") for _ in range(250)
    )
    many = {format: queries_to_export(format) for format in ("csv", "json")}
    assert few == many == {"csv": 1, "json": 1}
