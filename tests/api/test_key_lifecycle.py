"""A key's life: it may expire, its last use (time and client address) is recorded
cheaply, and events done through it name it as well as its creator."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import Event
from directory import services
from directory.errors import InvalidInput
from directory.models import ApiKey

from .helpers import error_of, key_client


def test_an_expired_key_is_refused_saying_when_it_expired(acme, alice):
    key, secret = services.api_key_create(
        actor=alice, organization=acme, name="temp", expires_at=timezone.now() + timedelta(days=1)
    )
    client = key_client(secret)
    assert client.get("/api/v1/users").status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client.get("/api/v1/users")
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "not_authenticated"
    assert error["message"].startswith("This API key expired on ")
    assert error["message"].endswith(" UTC.")


def test_an_expiry_in_the_past_is_refused_naming_the_field(acme, alice):
    with pytest.raises(InvalidInput) as raised:
        services.api_key_create(
            actor=alice, organization=acme, name="x", expires_at=timezone.now() - timedelta(hours=1)
        )
    assert list(raised.value.fields) == ["expires_at"]
    assert not ApiKey.objects.exists()


def _key_updates(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith('UPDATE "directory_apikey"')]


def test_last_use_records_time_and_address_at_most_once_a_minute(acme, alice):
    key, secret = services.api_key_create(actor=alice, organization=acme, name="sync")
    client = key_client(secret)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert client.get("/api/v1/users", REMOTE_ADDR="203.0.113.7").status_code == 200
    assert len(_key_updates(queries.captured_queries)) == 1
    key.refresh_from_db()
    assert key.last_used_from == "203.0.113.7"
    assert timezone.now() - key.last_used_at < timedelta(seconds=30)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    client.get("/api/v1/users", REMOTE_ADDR="198.51.100.9")
    key.refresh_from_db()
    assert key.last_used_from == "198.51.100.9"


def test_an_event_done_through_a_key_names_the_key_and_its_creator(acme, alice, bob):
    key, secret = services.api_key_create(actor=alice, organization=acme, name="HR sync")
    assert key_client(secret).post(f"/api/v1/users/{bob.pk}/suspend").status_code == 200
    event = Event.objects.get(type="user_suspend")
    assert event.actor == alice
    assert event.api_key_id == key.pk
    assert event.api_key_label == f"HR sync (stk_{key.lookup}_…)"
    assert secret not in event.api_key_label and secret.split("_")[-1] not in str(event.details)


def test_events_made_in_the_console_name_no_key(acme, alice, bob, client):
    services.api_key_create(actor=alice, organization=acme, name="HR sync")
    services.user_suspend(actor=alice, user=bob)
    event = Event.objects.get(type="user_suspend")
    assert (event.api_key_id, event.api_key_label) == (None, "")


def test_the_key_does_not_carry_over_to_the_next_request(acme, alice, bob, client):
    _, secret = services.api_key_create(actor=alice, organization=acme, name="HR sync")
    key_client(secret).get("/api/v1/users")
    client.force_login(alice)
    client.post(reverse("console:user_suspend", args=[bob.pk]))
    event = Event.objects.get(type="user_suspend")
    assert event.api_key_label == ""


def test_the_event_list_export_and_console_show_the_key(acme, alice, bob, client):
    key, secret = services.api_key_create(actor=alice, organization=acme, name="HR sync")
    api = key_client(secret)
    api.post(f"/api/v1/users/{bob.pk}/suspend")
    label = f"HR sync (stk_{key.lookup}_…)"
    listed = api.get("/api/v1/events", {"type": "user_suspend"}).json()["results"][0]
    assert (listed["api_key_id"], listed["api_key"]) == (key.pk, label)
    exported = api.get("/api/v1/events/export", {"type": "user_suspend", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert (rows[0]["api_key_id"], rows[0]["api_key"]) == (str(key.pk), label)
    client.force_login(alice)
    page = client.get(reverse("console:events"), {"type": "user_suspend"}).content.decode()
    assert f"through key {label}" in page
