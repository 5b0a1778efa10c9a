import csv
import io
import json

from django.http import StreamingHttpResponse

from audit.models import Event
from audit.services import event_record

from .helpers import error_of

EXPORT = "/api/v1/events/export"


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


def listed(api, **filters):
    response = api.get("/api/v1/events", filters)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def exported(api, **params):
    response = api.get(EXPORT, params)
    assert response.status_code == 200, response.content
    assert isinstance(response, StreamingHttpResponse)
    return response, b"".join(response.streaming_content).decode()


def test_it_filters_by_user_id_or_email(api, acme, alice, bob):
    provision(acme, bob)
    by_id = listed(api, user=str(bob.pk))
    assert by_id == listed(api, user="bob@acme.example")
    assert by_id and {e["target_label"] for e in by_id} == {"bob@acme.example"}


def test_it_filters_by_tenant(api, acme, alice, bob):
    provision(acme, bob, tenant="t1")
    provision(acme, alice, tenant="t2")
    assert [(e["tenant_ref"], e["target_label"]) for e in listed(api, tenant="t2")] == [
        ("t2", "alice@acme.example")
    ]


def test_it_filters_by_actor(api, acme, alice, bob):
    provision(acme, bob, type="user_deprovision")  # scheduled work: no actor
    provision(acme, bob, type="user_reactivate_provision", actor=alice)
    assert "user_deprovision" in [e["type"] for e in listed(api, actor="system")]
    by_alice = listed(api, actor="alice@acme.example")
    assert by_alice == listed(api, actor=str(alice.pk))
    assert {e["actor"] for e in by_alice} == {"alice@acme.example"}
    assert "user_reactivate_provision" in [e["type"] for e in by_alice]


def test_since_and_until_take_plain_dates(api, acme, bob):
    provision(acme, bob)
    assert listed(api, since="2000-01-01", user=str(bob.pk))
    assert not listed(api, until="2000-01-01", user=str(bob.pk))


def test_it_exports_csv_with_the_filters_applied(api, acme, alice, bob):
    provision(
        acme,
        bob,
        tenant="t1",
        outcome=Event.FAILURE,
        details={"code": "Request_BadRequest", "message": "Bad UPN", "request_id": "r9"},
    )
    provision(acme, alice, tenant="t2")
    response, text = exported(api, format="csv", tenant="t1", outcome="failure")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="stratus-events-')
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["tenant_id"], r["target_label"], r["outcome"]) for r in rows] == [
        ("t1", "bob@acme.example", "failure")
    ]
    assert json.loads(rows[0]["details"])["request_id"] == "r9"


def test_it_exports_json_by_default_and_csv_when_accept_asks(api, acme, bob):
    provision(acme, bob)
    response, text = exported(api, user=str(bob.pk))
    assert response["Content-Type"] == "application/json"
    assert json.loads(text) == listed(api, user=str(bob.pk))
    response = api.get(EXPORT, {"user": str(bob.pk)}, HTTP_ACCEPT="text/csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert b"".join(response.streaming_content).startswith(b"id,time,type,outcome,actor,")


def test_the_json_export_is_every_page_of_the_list(api, acme):
    Event.objects.bulk_create(
        Event(organization=acme, type="bulk", actor_label="system") for _ in range(120)
    )
    listed_ids = [
        e["id"]
        for page in (1, 2, 3)
        for e in api.get("/api/v1/events", {"type": "bulk", "page": page}).json()["results"]
    ]
    _, text = exported(api, type="bulk", format="json")
    assert [e["id"] for e in json.loads(text)] == listed_ids and len(listed_ids) == 120


def test_csv_export_defuses_formulas(api, acme):
    event_record(
        organization=acme,
        type="odd",
        target_type="group",
        target_id="1",
        target_label='=HYPERLINK("http://evil.example")',
    )
    _, text = exported(api, format="csv", type="odd")
    assert (
        next(csv.DictReader(io.StringIO(text)))["target_label"]
        == '\'=HYPERLINK("http://evil.example")'
    )


def test_a_bad_date_in_an_export_is_a_400_naming_the_field(api):
    response = api.get(EXPORT, {"format": "csv", "since": "last week"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    error = error_of(response)
    assert error["code"] == "invalid" and list(error["fields"]) == ["since"]
    assert "since" in error["message"]


def test_an_unknown_export_format_is_a_400_naming_format(api):
    response = api.get(EXPORT, {"format": "xlsx"})
    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["format"]


def test_another_organization_never_sees_acmes_events(charlie_api, acme, alice, bob):
    provision(acme, bob, tenant="acme-tenant")
    for filters in (
        {},
        {"user": "bob@acme.example"},
        {"user": str(bob.pk)},
        {"tenant": "acme-tenant"},
        {"actor": "alice@acme.example"},
    ):
        assert "acme" not in json.dumps(listed(charlie_api, **filters))
        for format in ("csv", "json"):
            _, text = exported(charlie_api, format=format, **filters)
            assert "acme" not in text


def test_a_member_may_not_list_or_export(session_client, bob):
    client = session_client(bob)
    for url in ("/api/v1/events", EXPORT, f"{EXPORT}?format=csv"):
        response = client.get(url)
        assert response.status_code == 403
        assert error_of(response)["code"] == "permission_denied"


def test_an_export_needs_a_key(client, acme):
    response = client.get(EXPORT, {"format": "csv"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_the_schema_documents_the_export_and_its_filters(api):
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/events/export"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"type", "outcome", "user", "tenant", "actor", "since", "until", "format"} <= names
    assert set(operation["responses"]["200"]["content"]) == {"text/csv", "application/json"}
    listing = schema["paths"]["/api/v1/events"]["get"]
    assert {"user", "tenant", "actor"} <= {p["name"] for p in listing["parameters"]}


def test_the_export_is_read_only(api):
    for method in (api.post, api.put, api.patch, api.delete):
        response = method(EXPORT, {"type": "forged"}, format="json")
        assert response.status_code == 405
        assert error_of(response)["code"] == "method_not_allowed"
