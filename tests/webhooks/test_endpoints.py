"""Endpoints: where they may point, their secret (encrypted, shown once, rotatable)."""

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from audit.models import Event
from directory import services as directory
from directory.errors import InvalidInput
from webhooks import services
from webhooks.models import Endpoint


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "Give the URL"),
        ("ftp://siem.example.com/x", "must start with https://"),
        ("http://siem.example.com/x", "must start with https://"),
        ("https://user:pw@siem.example.com/x", "no user name or password"),
        ("siem.example.com", "Give a full URL"),
    ],
)
def test_a_bad_url_is_refused_naming_the_field(acme, alice, url, reason):
    with pytest.raises(InvalidInput) as error:
        services.endpoint_create(actor=alice, organization=acme, url=url)
    assert list(error.value.fields) == ["url"]
    assert reason in error.value.fields["url"][0]
    assert not Endpoint.objects.exists()


def test_plain_http_to_loopback_is_allowed_in_development(acme, alice):
    endpoint, _ = services.endpoint_create(
        actor=alice, organization=acme, url="http://127.0.0.1:9/hook"
    )
    assert endpoint.url == "http://127.0.0.1:9/hook"


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/hook", "https://127.0.0.1/hook", "https://10.1.2.3/", "https://[::1]/"],
)
def test_production_requires_https_to_a_public_address(acme, alice, settings, url):
    settings.PRODUCTION = True
    with pytest.raises(InvalidInput) as error:
        services.endpoint_create(actor=alice, organization=acme, url=url)
    assert "url" in error.value.fields


def test_a_bad_event_type_filter_is_refused(acme, alice):
    with pytest.raises(InvalidInput) as error:
        services.endpoint_create(
            actor=alice,
            organization=acme,
            url="https://siem.example.com/",
            event_types="user_*, DROP TABLE",
        )
    assert "DROP" in error.value.fields["event_types"][0]


def test_the_secret_is_stored_encrypted_and_never_in_the_event_log(acme, alice):
    endpoint, secret = services.endpoint_create(
        actor=alice, organization=acme, url="https://siem.example.com/hook?token=abc"
    )
    assert secret.startswith("whsec_")
    row = Endpoint.objects.filter(pk=endpoint.pk).values().get()
    assert all(secret not in str(value) for value in row.values())
    event = Event.objects.get(type="webhook_create")
    assert secret not in str(event.__dict__)
    assert event.target_label == "siem.example.com"  # not the URL's own token


def test_after_a_rotation_both_secrets_sign_until_the_overlap_ends(acme, alice):
    endpoint, old = services.endpoint_create(
        actor=alice, organization=acme, url="https://siem.example.com/"
    )
    new = services.endpoint_rotate_secret(actor=alice, endpoint=endpoint)
    assert new != old
    endpoint.refresh_from_db()
    assert endpoint.signing_secrets() == [new, old]
    assert Event.objects.filter(type="webhook_secret_rotate").exists()
    later = endpoint.previous_secret_until + timezone.timedelta(seconds=1)
    assert endpoint.signing_secrets(now=later) == [new]


def test_a_receiver_still_on_the_old_secret_verifies_during_the_overlap(
    acme, alice, receiver, endpoint_and_secret
):
    endpoint, old = endpoint_and_secret
    new = services.endpoint_rotate_secret(actor=alice, endpoint=endpoint)
    directory.user_create(actor=alice, organization=acme, email="r@acme.example")
    services.endpoint_deliver(endpoint_id=endpoint.pk)
    headers, body = receiver.received[-1]
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)


def test_deleting_an_endpoint_drops_its_queue_and_is_recorded(acme, alice, endpoint):
    directory.user_create(actor=alice, organization=acme, email="d@acme.example")
    services.endpoint_delete(actor=alice, endpoint=endpoint)
    assert not Endpoint.objects.exists()
    assert Event.objects.filter(type="webhook_delete", target_label="127.0.0.1").exists()


def test_in_production_a_host_that_resolves_to_a_private_address_gets_nothing(
    acme, alice, settings, monkeypatch
):
    endpoint, _ = services.endpoint_create(
        actor=alice, organization=acme, url="https://siem.example.com/hook"
    )
    settings.PRODUCTION = True
    # The name is public, its address is not (DNS is what leaves the machine: faked).
    monkeypatch.setattr("socket.getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("10.0.0.5", 443))])
    sent = []
    monkeypatch.setattr("requests.Session.request", lambda *a, **k: sent.append(a))
    run = services.endpoint_deliver(endpoint_id=endpoint.pk)
    assert run.failed and sent == []
    endpoint.refresh_from_db()
    assert endpoint.last_error == "The URL's host resolves to a local or private network address."
