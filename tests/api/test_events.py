from datetime import timedelta

from django.utils import timezone

from audit.services import event_record
from directory import services

from .helpers import error_of


def test_it_lists_the_organizations_events_newest_first(api, alice, bob, charlie):
    results = api.get("/api/v1/events").json()["results"]
    assert [e["id"] for e in results] == sorted((e["id"] for e in results), reverse=True)
    assert "charlie@globex.example" not in str(results)
    key_event = next(e for e in results if e["type"] == "api_key_create")
    assert key_event["actor"] == "alice@acme.example" and key_event["actor_id"] == alice.pk
    assert key_event["target_label"] == "alice's script"
    assert {
        "id",
        "created_at",
        "outcome",
        "target_type",
        "target_id",
        "details",
        "tenant_ref",
    } <= set(key_event)


def test_it_filters_events(api, acme, alice, bob):
    services.user_suspend(actor=alice, user=bob)
    event_record(organization=acme, type="sync", outcome="failure", target=bob)

    def types(**filters):
        return [e["type"] for e in api.get("/api/v1/events", filters).json()["results"]]

    assert types(type="user_suspend") == ["user_suspend"]
    assert types(outcome="failure") == ["sync"]
    assert set(types(target_type="user", target_id=str(bob.pk))) == {
        "user_create",
        "user_password_set",
        "user_suspend",
        "sync",
    }


def test_it_filters_events_by_time(api, alice, bob):
    now = timezone.now()
    assert (
        api.get("/api/v1/events", {"since": (now + timedelta(hours=1)).isoformat()}).json()["count"]
        == 0
    )
    assert (
        api.get("/api/v1/events", {"until": (now - timedelta(hours=1)).isoformat()}).json()["count"]
        == 0
    )
    window = {
        "since": (now - timedelta(hours=1)).isoformat(),
        "until": (now + timedelta(hours=1)).isoformat(),
    }
    assert api.get("/api/v1/events", window).json()["count"] > 0


def test_a_bad_date_is_a_400_naming_the_field(api):
    response = api.get("/api/v1/events", {"since": "yesterday", "until": "2026-13-45"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid" and set(error["fields"]) == {"since", "until"}


def test_until_before_since_is_a_400_naming_until(api):
    response = api.get(
        "/api/v1/events", {"since": "2026-05-02T00:00:00Z", "until": "2026-05-01T00:00:00Z"}
    )
    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["until"]


def test_events_are_read_only(api):
    response = api.post("/api/v1/events", {"type": "forged"}, format="json")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
