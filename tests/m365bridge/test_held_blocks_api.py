"""The held blocks of the deprovision brake through the REST API, against graphsim: list
them, release (each sent once, even when two releases race) or discard them; owners
only, a console session must have confirmed it is them, another organization gets 404."""

import threading

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from audit.models import Event
from directory import reauth
from directory import services as directory_services
from directory.models import User
from m365bridge import services
from m365bridge.models import HeldBlock, UserBinding
from tests.conftest import PASSWORD

from .provisioning import sync
from .test_deprovision_brake import block_patches, blocked_in_microsoft, bound_staff

pytest_plugins = ["tests.m365bridge.provisioning"]


def _key(actor, organization) -> dict:
    _, secret = directory_services.api_key_create(actor=actor, organization=organization, name="k")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def _held(acme, alice, ms, tenant, staff=4, limit=1):
    services.tenant_brake_update(actor=alice, tenant=tenant, max_accounts=limit, max_percent=1)
    users = bound_staff(acme, alice, ms, tenant, staff)
    for user in users:
        directory_services.user_suspend(actor=alice, user=user)
    sync(tenant)
    return users


def _url(tenant, action=""):
    return f"/api/v1/m365/tenants/{tenant.pk}/held-blocks" + (f"/{action}" if action else "")


def test_an_owners_key_lists_and_releases_the_held_blocks_each_sent_once(
    client, acme, alice, ms, tenant, sent_batches
):
    _held(acme, alice, ms, tenant)
    auth = _key(alice, acme)
    sent_batches.clear()

    listed = client.get(_url(tenant), **auth).json()
    assert listed["count"] == 3
    assert {(h["reason"], h["caused_by"]) for h in listed["results"]} == {
        ("suspended", alice.email)
    }
    assert {h["email"] for h in listed["results"]} == set(
        HeldBlock.objects.values_list("user_label", flat=True)
    )

    released = client.post(_url(tenant, "release"), **auth)
    assert released.status_code == 200 and released.json() == {"released": 3, "held": 0}
    again = client.post(_url(tenant, "release"), **auth)
    assert again.status_code == 409 and again.json()["error"]["code"] == "nothing_held"
    sync(tenant)
    sync(tenant)

    assert len(blocked_in_microsoft(ms)) == 4
    patches = block_patches(sent_batches)
    assert len(patches) == 3 and len(set(patches)) == 3
    [event] = Event.objects.filter(type="m365_held_blocks_release")
    assert event.actor_id == alice.pk and event.details == {"released": 3}
    assert client.get(_url(tenant), **auth).json()["count"] == 0


def test_an_owners_key_discards_them_and_nothing_is_sent(client, acme, alice, ms, tenant):
    _held(acme, alice, ms, tenant)
    response = client.post(_url(tenant, "discard"), **_key(alice, acme))
    sync(tenant)

    assert response.status_code == 200 and response.json() == {"discarded": 3, "held": 0}
    assert len(blocked_in_microsoft(ms)) == 1
    [event] = Event.objects.filter(type="m365_held_blocks_discard")
    assert event.actor_id == alice.pk and event.details == {"discarded": 3}


@pytest.mark.parametrize("role", [User.ADMIN, User.HELPDESK, User.READ_ONLY])
def test_only_an_owner_may_decide_in_the_error_shape(client, acme, alice, ms, tenant, role):
    _held(acme, alice, ms, tenant)
    person = directory_services.user_create(
        actor=alice, organization=acme, email=f"{role}@acme.example", role=role, password=PASSWORD
    )
    auth = _key(person, acme) if role == User.ADMIN else None
    if auth is None:
        client.force_login(person)
        auth = {}
    for action in ("release", "discard"):
        response = client.post(_url(tenant, action), **auth)
        assert response.status_code == 403, response.content
        error = response.json()["error"]
        assert error["code"] in ("owner_only", "permission_denied") and error["message"]
    sync(tenant)
    assert HeldBlock.objects.filter(released_at__isnull=True).count() == 3
    assert len(blocked_in_microsoft(ms)) == 1
    assert not Event.objects.filter(type__startswith="m365_held_blocks").exists()


def test_a_key_of_an_owner_later_made_admin_may_no_longer_release(client, acme, alice, ms, tenant):
    _held(acme, alice, ms, tenant)
    olga = directory_services.user_create(
        actor=alice, organization=acme, email="olga@acme.example", role=User.OWNER
    )
    auth = _key(olga, acme)
    User.objects.filter(pk=olga.pk).update(role=User.ADMIN)

    response = client.post(_url(tenant, "release"), **auth)
    assert response.status_code == 403 and response.json()["error"]["code"] == "owner_only"


def test_a_console_session_must_have_confirmed_it_is_you(client, acme, alice, ms, tenant):
    _held(acme, alice, ms, tenant)
    client.force_login(alice)
    session = client.session
    session[reauth.SESSION_KEY] = session[reauth.SESSION_KEY] - 6 * 60
    session.save()

    stale = client.post(_url(tenant, "release"))
    assert stale.status_code == 403 and stale.json()["error"]["code"] == "reauth_required"
    assert HeldBlock.objects.filter(released_at__isnull=True).count() == 3

    session = client.session
    session[reauth.SESSION_KEY] = timezone.now().timestamp()
    session.save()
    fresh = client.post(_url(tenant, "release"))
    assert fresh.status_code == 200 and fresh.json()["released"] == 3


def test_another_organizations_key_gets_404_and_changes_nothing(
    client, acme, alice, globex, charlie, ms, tenant
):
    _held(acme, alice, ms, tenant)
    auth = _key(charlie, globex)
    for method, action in (("get", ""), ("post", "release"), ("post", "discard")):
        response = getattr(client, method)(_url(tenant, action), **auth)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert HeldBlock.objects.filter(released_at__isnull=True).count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_releases_at_once_send_each_block_once(acme, alice, ms, tenant, sent_batches):
    _held(acme, alice, ms, tenant, staff=6)
    auth = _key(alice, acme)
    sent_batches.clear()
    start, answers = threading.Barrier(2), []

    def release():
        try:
            start.wait()
            answers.append(Client().post(_url(tenant, "release"), **auth))
        finally:
            connection.close()

    threads = [threading.Thread(target=release) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sync(tenant)
    sync(tenant)

    assert sorted(a.status_code for a in answers) == [200, 409]
    assert [a.json()["released"] for a in answers if a.status_code == 200] == [5]
    patches = block_patches(sent_batches)
    assert len(patches) == 5 and len(set(patches)) == 5
    assert Event.objects.filter(type="m365_held_blocks_release").count() == 1
    assert UserBinding.objects.filter(tenant=tenant, state=UserBinding.BLOCKED).count() == 6
