"""Delivery to a real receiver on loopback: in order, at least once with a stable event
id, signed, retried while the receiver is down, from the outbox in the database."""

import base64
import hashlib
import hmac
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks import Webhook

from audit.models import Event
from directory import services as directory
from webhooks import services
from webhooks.models import Delivery, Endpoint


def make_users(alice, acme, count, prefix="u"):
    for n in range(count):
        directory.user_create(
            actor=alice, organization=acme, email=f"{prefix}{n}@acme.example", first_name="U"
        )


def as_if_the_backoff_passed(endpoint, *, hours=0):
    """Time travel for the retry schedule: the wait is over (and the events are older)."""
    Endpoint.objects.filter(pk=endpoint.pk).update(next_attempt_at=timezone.now())
    Delivery.objects.filter(endpoint=endpoint).update(
        created_at=timezone.now() - timedelta(hours=hours)
    )


def pause(alice, endpoint, *, active):
    services.endpoint_update(
        actor=alice,
        endpoint=endpoint,
        url=endpoint.url,
        description="",
        event_types=[],
        active=active,
    )


def deliver(endpoint):
    return services.endpoint_deliver(endpoint_id=endpoint.pk)


def test_an_event_reaches_the_outbox_in_the_transaction_that_records_it(acme, alice, endpoint):
    user = directory.user_create(actor=alice, organization=acme, email="new@acme.example")
    delivery = Delivery.objects.get(endpoint=endpoint, event_type="user_create")
    event = Event.objects.get(type="user_create", target_id=str(user.pk))
    assert delivery.event_id == f"evt_{event.pk}"
    assert delivery.state == Delivery.PENDING


def test_a_rolled_back_change_leaves_nothing_in_the_outbox(acme, alice, endpoint):
    before = Delivery.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        directory.user_create(actor=alice, organization=acme, email="gone@acme.example")
        raise RuntimeError("the caller fails after the event")
    assert Delivery.objects.count() == before


def test_only_the_event_types_an_endpoint_asked_for_are_queued(acme, alice, receiver):
    endpoint, _ = services.endpoint_create(
        actor=alice, organization=acme, url=receiver.url, event_types="group_*, user_delete"
    )
    directory.user_create(actor=alice, organization=acme, email="x@acme.example")
    directory.group_create(actor=alice, organization=acme, name="Ops")
    assert list(endpoint.deliveries.values_list("event_type", flat=True)) == ["group_create"]


def test_another_organizations_events_never_reach_the_endpoint(globex, endpoint):
    owner = globex.users.get()
    directory.user_create(actor=owner, organization=globex, email="z@globex.example")
    assert not endpoint.deliveries.filter(event_type="user_create").exists()


def test_deliveries_are_signed_so_the_receiver_can_verify_them(
    acme, alice, receiver, endpoint_and_secret
):
    endpoint, secret = endpoint_and_secret
    directory.user_create(actor=alice, organization=acme, email="s@acme.example")
    deliver(endpoint)
    headers, body = receiver.received[-1]
    payload = Webhook(secret).verify(body, headers)  # the Standard Webhooks library
    assert payload["type"] == "user_create"
    assert payload["data"]["target_label"] == "s@acme.example"
    assert headers["webhook-id"] == payload["id"]
    # ... and by hand, as the README tells receivers without that library.
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60


def test_a_tampered_body_fails_verification(acme, alice, receiver, endpoint_and_secret):
    from standardwebhooks import WebhookVerificationError

    endpoint, secret = endpoint_and_secret
    directory.user_create(actor=alice, organization=acme, email="t@acme.example")
    deliver(endpoint)
    headers, body = receiver.received[-1]
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"t@acme", b"x@acme"), headers)


def test_a_receiver_down_for_an_hour_gets_everything_afterwards_once_and_in_order(
    acme, alice, receiver, endpoint_and_secret
):
    endpoint, secret = endpoint_and_secret
    make_users(alice, acme, 3, prefix="before")
    receiver.down()
    run = deliver(endpoint)
    assert run.failed and run.delivered == 0
    make_users(alice, acme, 3, prefix="during")
    endpoint.refresh_from_db()
    assert endpoint.next_attempt_at > timezone.now()  # backing off
    assert "Could not reach the receiver" in endpoint.last_error
    assert not deliver(endpoint).claimed  # not before the backoff is over

    for _ in range(3):  # an hour of failed retries
        as_if_the_backoff_passed(endpoint, hours=1)
        assert deliver(endpoint).failed
    receiver.up()
    make_users(alice, acme, 2, prefix="after")
    as_if_the_backoff_passed(endpoint, hours=1)
    run = deliver(endpoint)

    assert run.delivered == Delivery.objects.filter(endpoint=endpoint).count()
    events = receiver.events()
    queued = list(Delivery.objects.filter(endpoint=endpoint).order_by("sequence"))
    assert [e["id"] for e in events] == [d.event_id for d in queued]  # all, once, in order
    assert [e["sequence"] for e in events] == sorted(e["sequence"] for e in events)
    for headers, body in receiver.received:
        Webhook(secret).verify(body, headers)
    assert all(d.state == Delivery.DELIVERED for d in queued)
    assert queued[0].attempts == 5 and queued[-1].attempts == 1


def test_while_the_oldest_delivery_fails_nothing_behind_it_is_sent(acme, alice, receiver, endpoint):
    make_users(alice, acme, 3)
    receiver.status = 503
    deliver(endpoint)
    states = list(endpoint.deliveries.order_by("sequence").values_list("state", "attempts"))
    assert states[0] == (Delivery.PENDING, 1)
    assert all(s == (Delivery.PENDING, 0) for s in states[1:])
    assert endpoint.deliveries.order_by("sequence").first().last_status == 503


def test_after_24_hours_a_delivery_is_given_up_and_the_next_one_goes(
    acme, alice, receiver, endpoint
):
    make_users(alice, acme, 1, prefix="old")
    receiver.status = 500
    deliver(endpoint)
    as_if_the_backoff_passed(endpoint, hours=25)  # the old event is now 25 hours old
    make_users(alice, acme, 1, prefix="new")
    run = deliver(endpoint)
    assert run.gave_up == 1 and run.failed  # the old one given up, the new one retried
    old, new = endpoint.deliveries.order_by("sequence")
    assert old.state == Delivery.FAILED and old.last_status == 500
    assert new.state == Delivery.PENDING
    receiver.status = 200
    Endpoint.objects.filter(pk=endpoint.pk).update(next_attempt_at=timezone.now())
    deliver(endpoint)
    assert [e["data"]["target_label"] for e in receiver.events()] == ["new0@acme.example"]


def test_a_claimed_endpoint_is_not_delivered_by_a_second_worker(acme, alice, endpoint, receiver):
    make_users(alice, acme, 2)
    Endpoint.objects.filter(pk=endpoint.pk).update(
        claim_token="other-worker", claimed_until=timezone.now() + timedelta(minutes=1)
    )
    assert not deliver(endpoint).claimed
    assert receiver.received == []
    # A dead worker's claim runs out and the endpoint is taken over.
    Endpoint.objects.filter(pk=endpoint.pk).update(claimed_until=timezone.now())
    assert deliver(endpoint).delivered == 2


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_deliver_each_event_once_in_order(receiver):
    from tests.conftest import PASSWORD

    acme, _ = directory.organization_signup(
        name="Acme", email="alice@acme.example", password=PASSWORD
    )
    alice = acme.users.get()
    endpoint, _ = services.endpoint_create(actor=alice, organization=acme, url=receiver.url)
    make_users(alice, acme, 12)
    receiver.delay = 0.02
    runs = []

    def worker():
        try:
            runs.append(deliver(endpoint))
        finally:
            connection.close()  # each thread opened its own connection

    workers = [threading.Thread(target=worker) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sum(1 for run in runs if run.claimed) >= 1
    queued = list(endpoint.deliveries.order_by("sequence").values_list("event_id", flat=True))
    assert [e["id"] for e in receiver.events()] == queued


def test_the_sweep_sends_due_endpoints_and_skips_those_backing_off(
    acme, alice, receiver, endpoint, eager_celery
):
    make_users(alice, acme, 2)
    assert services.endpoints_due() == [endpoint.pk]  # eager: delivered inline
    assert len(receiver.received) == 2
    make_users(alice, acme, 1, prefix="later")
    receiver.status = 503
    services.endpoints_due()
    assert services.endpoints_due() == []  # backing off
    receiver.status = 200
    as_if_the_backoff_passed(endpoint)
    assert services.endpoints_due() == [endpoint.pk]
    assert len(receiver.received) == 3


def test_a_test_event_goes_to_that_endpoint_only(acme, alice, receiver, endpoint):
    other, _ = services.endpoint_create(actor=alice, organization=acme, url=receiver.url + "/2")
    delivery = services.endpoint_send_test(actor=alice, endpoint=endpoint)
    assert delivery.event_type == "webhook_test"
    assert not other.deliveries.filter(event_type="webhook_test").exists()
    deliver(endpoint)
    assert receiver.events()[-1]["type"] == "webhook_test"


def test_a_paused_endpoint_queues_but_does_not_send_until_resumed(acme, alice, receiver, endpoint):
    services.endpoint_update(
        actor=alice,
        endpoint=endpoint,
        url=endpoint.url,
        description="",
        event_types=[],
        active=False,
    )
    make_users(alice, acme, 1, prefix="paused")
    assert not deliver(endpoint).claimed
    assert receiver.received == []
    services.endpoint_update(
        actor=alice,
        endpoint=endpoint,
        url=endpoint.url,
        description="",
        event_types=[],
        active=True,
    )
    assert deliver(endpoint).delivered == 3
    types = [e["type"] for e in receiver.events()]
    assert types == ["webhook_update", "user_create", "webhook_update"]


def test_the_log_forgets_finished_deliveries_after_its_retention_but_never_pending_ones(
    acme, alice, receiver, endpoint, settings
):
    settings.WEBHOOK_LOG_DAYS = 30
    make_users(alice, acme, 2)
    deliver(endpoint)
    make_users(alice, acme, 1, prefix="stuck")
    receiver.status = 500
    deliver(endpoint)
    Delivery.objects.update(created_at=timezone.now() - timedelta(days=31))
    from workers.tasks import webhook_prune

    assert webhook_prune.apply().get() == 2
    assert list(endpoint.deliveries.values_list("state", flat=True)) == [Delivery.PENDING]
