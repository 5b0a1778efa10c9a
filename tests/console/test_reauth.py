"""Dangerous actions ask the person to confirm it is them (password or app code) when
their last check is older than directory.reauth.REAUTH_MAX_AGE; signing in is a check."""

from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import Event
from directory import reauth
from directory.models import ApiKey, User
from tests.conftest import PASSWORD
from tests.support.mfa import totp_code

# Every dangerous console action: its URL, the POST it takes, and what must not change.
DANGEROUS = [
    ("console:user_delete", "bob", {}),
    ("console:api_keys", None, {"name": "HR sync"}),
    ("console:settings", None, {"password_min_length": 20, "password_history": 5}),
    ("console:mfa_policy", None, {"required_for_admins": "on"}),
    ("m365:connect", None, {}),
    ("m365:deauthorize", "tenant", {}),
]


def make_stale(client):
    session = client.session
    session[reauth.SESSION_KEY] = session[reauth.SESSION_KEY] - 6 * 60
    session.save()


def url_of(name, arg, bob):
    args = {"bob": [bob.pk], "tenant": [1], None: None}[arg]
    return reverse(name, args=args)


@pytest.mark.parametrize(("name", "arg", "data"), DANGEROUS, ids=[d[0] for d in DANGEROUS])
def test_a_stale_check_sends_a_dangerous_action_to_confirm_it_is_you(
    alice_client, bob, name, arg, data
):
    make_stale(alice_client)
    url = url_of(name, arg, bob)
    response = alice_client.post(url, data)
    assert response.status_code == 302
    back = reverse("console:settings") if name == "console:mfa_policy" else url
    assert response["Location"] == f"{reverse('console:reauth')}?{urlencode({'next': back})}"
    assert User.objects.filter(pk=bob.pk).exists()
    assert not ApiKey.objects.exists()
    assert bob.organization.password_min_length == 12
    assert not Event.objects.filter(type__contains="policy_update").exists()


@pytest.mark.parametrize(("name", "arg", "data"), DANGEROUS, ids=[d[0] for d in DANGEROUS])
def test_pages_of_dangerous_actions_still_open_and_signing_in_counts_as_a_check(
    alice_client, bob, name, arg, data
):
    url = url_of(name, arg, bob)
    response = alice_client.post(url, data)
    assert not response.get("Location", "").startswith(reverse("console:reauth"))


def test_the_password_confirms_and_the_action_then_goes_through(alice_client, bob):
    make_stale(alice_client)
    url = reverse("console:user_delete", args=[bob.pk])
    response = alice_client.post(reverse("console:reauth"), {"secret": PASSWORD, "next": url})
    assert response["Location"] == url
    alice_client.post(url)
    assert not User.objects.filter(pk=bob.pk).exists()


def test_a_wrong_password_is_refused_and_counts_as_a_failed_sign_in(alice_client, alice, bob):
    make_stale(alice_client)
    response = alice_client.post(reverse("console:reauth"), {"secret": "not-it"})
    assert response.status_code == 200
    assert reauth.REFUSED in response.content.decode()
    alice_client.post(reverse("console:user_delete", args=[bob.pk]))
    assert User.objects.filter(pk=bob.pk).exists()


def test_a_code_from_the_app_confirms_too(alice_client, alice, bob):
    alice_client.get(reverse("portal:mfa_enrol"))
    device = TOTPDevice.objects.get(user=alice)
    alice_client.post(reverse("portal:mfa_enrol"), {"code": totp_code(device)})
    make_stale(alice_client)
    code = totp_code(device, steps_ahead=1)
    response = alice_client.post(reverse("console:reauth"), {"secret": code, "next": "/console/"})
    assert response["Location"] == "/console/"
    assert reauth.check_is_recent(type("R", (), {"session": alice_client.session})())
