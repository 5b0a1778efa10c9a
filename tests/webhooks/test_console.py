"""The console pages of webhooks: add (secret shown once), log, test event, rotate."""

import pytest
from django.urls import reverse

from webhooks import services
from webhooks.models import Endpoint


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def test_adding_an_endpoint_shows_its_secret_once(alice_client, receiver):
    response = alice_client.post(
        reverse("webhooks:list"), {"url": receiver.url, "event_types": "user_*"}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    endpoint = Endpoint.objects.get()
    secret = endpoint.signing_secrets()[0]
    assert secret.encode() in response.content
    assert endpoint.event_types == ["user_*"]
    again = alice_client.get(reverse("webhooks:list"))
    assert secret.encode() not in again.content
    assert (
        secret.encode()
        not in alice_client.get(reverse("webhooks:detail", args=[endpoint.pk])).content
    )


def test_a_bad_url_is_shown_next_to_its_field(alice_client):
    response = alice_client.post(reverse("webhooks:list"), {"url": "http://example.com/"})
    assert response.status_code == 200
    assert b'id="id_url_errors"' in response.content
    assert b"must start with https://" in response.content
    assert not Endpoint.objects.exists()


def test_send_a_test_event_and_see_it_in_the_delivery_log(
    alice_client, alice, endpoint, receiver, django_capture_on_commit_callbacks, eager_celery
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("webhooks:send_test", args=[endpoint.pk]))
    assert response.status_code == 302
    assert receiver.events()[-1]["type"] == "webhook_test"
    page = alice_client.get(reverse("webhooks:detail", args=[endpoint.pk]))
    assert b"webhook_test" in page.content
    assert b"Delivered" in page.content
    assert b"HTTP 200" in page.content


def test_a_failing_receiver_shows_its_error_on_the_endpoint(
    alice_client, alice, endpoint, receiver
):
    receiver.status = 503
    services.endpoint_send_test(actor=alice, endpoint=endpoint)
    services.endpoint_deliver(endpoint_id=endpoint.pk)
    page = alice_client.get(reverse("webhooks:detail", args=[endpoint.pk]))
    assert b"The receiver answered HTTP 503." in page.content
    assert b"next try" in page.content


def test_rotating_the_secret_shows_the_new_one_once(alice_client, endpoint):
    response = alice_client.post(reverse("webhooks:rotate_secret", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    assert endpoint.signing_secrets()[0].encode() in response.content
    assert response["Cache-Control"] == "no-store"


def test_editing_pauses_the_endpoint(alice_client, endpoint):
    response = alice_client.post(
        reverse("webhooks:detail", args=[endpoint.pk]),
        {"url": endpoint.url, "description": "SIEM", "event_types": ""},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.active is False and endpoint.description == "SIEM"


def test_the_delivery_log_filters_by_state(alice_client, alice, endpoint, receiver):
    services.endpoint_send_test(actor=alice, endpoint=endpoint)
    services.endpoint_deliver(endpoint_id=endpoint.pk)
    receiver.status = 503
    services.endpoint_send_test(actor=alice, endpoint=endpoint)
    services.endpoint_deliver(endpoint_id=endpoint.pk)
    url = reverse("webhooks:detail", args=[endpoint.pk])
    pending = alice_client.get(url, {"state": "pending"})
    delivered = alice_client.get(url, {"state": "delivered"})
    ids = list(endpoint.deliveries.order_by("sequence").values_list("event_id", flat=True))
    assert ids[1].encode() in pending.content and ids[0].encode() not in pending.content
    assert ids[0].encode() in delivered.content and ids[1].encode() not in delivered.content
