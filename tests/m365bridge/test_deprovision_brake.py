"""The mass-deprovision brake, against graphsim: more blocks than the tenant's threshold
within the window are held (nothing sent) until an owner releases them (each sent once)
or discards them; a single suspension is never held; owners get one email."""

from urllib.parse import urlencode

import pytest
from django.urls import reverse

from audit.models import Event
from directory import reauth
from directory import services as directory_services
from directory.errors import InvalidInput, NotAllowed
from directory.models import SentEmail, User
from m365bridge import selectors, services
from m365bridge.models import DeprovisionBrake, HeldBlock, UserBinding
from m365bridge.sync import brake

from .provisioning import employee, sync

pytest_plugins = ["tests.m365bridge.provisioning"]


def blocked_in_microsoft(ms) -> set[str]:
    return {
        u["userPrincipalName"]
        for u in ms["control"].users(ms["id"])
        if u.get("accountEnabled") is False
    }


def block_patches(sent_batches) -> list[str]:
    """The URLs of every write Stratus sent that turned sign-in off."""
    return [
        url
        for method, url, body in sent_batches
        if method == "PATCH" and (body or {}).get("accountEnabled") is False
    ]


def bound_staff(acme, alice, ms, tenant, count, prefix="u"):
    users = [employee(acme, alice, ms, f"{prefix}{i}") for i in range(count)]
    services.users_bind(actor=alice, tenant=tenant, users=users)
    sync(tenant)
    return users


def test_suspending_a_group_of_300_blocks_at_most_the_threshold_until_an_owner_releases(
    acme, alice, ms, tenant, sent_batches
):
    staff = bound_staff(acme, alice, ms, tenant, 300)
    group = directory_services.group_create(actor=alice, organization=acme, name="Everyone")
    for user in staff:
        directory_services.group_member_add(actor=alice, group=group, user=user)
    sent_batches.clear()

    for user in group.members.all():  # the wrong group suspended
        directory_services.user_suspend(actor=alice, user=user)
    result = sync(tenant)
    sync(tenant)  # a second round sends nothing more either

    limit = 50  # the larger of 50 and 10 % of 300
    assert len(blocked_in_microsoft(ms)) == limit
    assert len(block_patches(sent_batches)) == limit
    assert result.counts.get("held") == 300 - limit
    held = HeldBlock.objects.filter(tenant=tenant)
    assert held.count() == 300 - limit
    assert {(h.reason, h.actor_id) for h in held} == {("suspended", alice.pk)}
    assert UserBinding.objects.filter(tenant=tenant, state=UserBinding.HELD).count() == 250
    assert UserBinding.objects.filter(tenant=tenant, needs_sync=True).count() == 250
    [email] = SentEmail.objects.filter(kind="m365_deprovision_held")  # alice, the one owner
    assert email.to == alice.email
    assert Event.objects.filter(type="m365_deprovision_brake_engaged").count() == 1

    assert services.held_blocks_release(actor=alice, tenant=tenant) == 250
    sync(tenant)
    sync(tenant)

    assert len(blocked_in_microsoft(ms)) == 300
    patches = block_patches(sent_batches)
    assert len(patches) == 300 and len(set(patches)) == 300  # each account exactly once
    assert not HeldBlock.objects.exists()
    assert not UserBinding.objects.filter(tenant=tenant, needs_sync=True).exists()
    assert UserBinding.objects.filter(tenant=tenant, state=UserBinding.BLOCKED).count() == 300
    [release] = Event.objects.filter(type="m365_held_blocks_release")
    assert release.actor_id == alice.pk and release.details["released"] == 250
    assert SentEmail.objects.filter(kind="m365_deprovision_held").count() == 1


def test_a_single_suspension_below_the_threshold_is_sent_at_once(acme, alice, ms, tenant):
    [one, _] = bound_staff(acme, alice, ms, tenant, 2)
    directory_services.user_suspend(actor=alice, user=one)
    sync(tenant)

    assert blocked_in_microsoft(ms) == {one.email}
    assert not HeldBlock.objects.exists()
    assert not SentEmail.objects.filter(kind="m365_deprovision_held").exists()


def test_once_crossed_every_further_block_is_held_even_a_single_one(acme, alice, ms, tenant):
    services.tenant_brake_update(actor=alice, tenant=tenant, max_accounts=2, max_percent=1)
    staff = bound_staff(acme, alice, ms, tenant, 5)
    for user in staff[:3]:
        directory_services.user_suspend(actor=alice, user=user)
    sync(tenant)
    assert len(blocked_in_microsoft(ms)) == 2

    directory_services.user_delete(actor=alice, user=staff[4])
    sync(tenant)

    assert len(blocked_in_microsoft(ms)) == 2
    assert sorted(HeldBlock.objects.values_list("reason", flat=True)) == ["deleted", "suspended"]
    assert SentEmail.objects.filter(kind="m365_deprovision_held").count() == 1


def test_discarding_sends_nothing_and_leaves_the_accounts_enabled(acme, alice, ms, tenant):
    services.tenant_brake_update(actor=alice, tenant=tenant, max_accounts=1, max_percent=1)
    staff = bound_staff(acme, alice, ms, tenant, 5)
    for user in staff[:3]:
        directory_services.user_suspend(actor=alice, user=user)
    services.user_unbind(actor=alice, user=staff[3])
    sync(tenant)
    assert len(blocked_in_microsoft(ms)) == 1

    assert services.held_blocks_discard(actor=alice, tenant=tenant) == 3
    sync(tenant)

    assert len(blocked_in_microsoft(ms)) == 1
    assert not HeldBlock.objects.exists()
    assert not UserBinding.objects.filter(user=staff[3]).exists()  # the unbound one forgotten
    kept = UserBinding.objects.filter(user__in=staff[:3], state=UserBinding.PROVISIONED)
    assert kept.count() == 2 and not kept.filter(needs_sync=True).exists()
    [discard] = Event.objects.filter(type="m365_held_blocks_discard")
    assert discard.actor_id == alice.pk and discard.details["discarded"] == 3
    # The brake lets blocks through again, with a fresh window.
    assert DeprovisionBrake.objects.get(tenant=tenant).engaged_at is None
    directory_services.user_suspend(actor=alice, user=staff[4])
    sync(tenant)
    assert len(blocked_in_microsoft(ms)) == 2


def test_only_an_owner_releases_or_discards(acme, alice, ms, tenant):
    services.tenant_brake_update(actor=alice, tenant=tenant, max_accounts=1, max_percent=1)
    staff = bound_staff(acme, alice, ms, tenant, 3)
    for user in staff:
        directory_services.user_suspend(actor=alice, user=user)
    sync(tenant)
    admin = directory_services.user_create(
        actor=alice, organization=acme, email="ada@acme.example", role=User.ADMIN
    )

    for decide in (services.held_blocks_release, services.held_blocks_discard):
        with pytest.raises(NotAllowed) as refused:
            decide(actor=admin, tenant=tenant)
        assert "owner" in refused.value.message
    with pytest.raises(NotAllowed):
        services.tenant_brake_update(actor=admin, tenant=tenant, max_accounts=9, max_percent=9)
    sync(tenant)

    assert HeldBlock.objects.filter(released_at__isnull=True).count() == 2
    assert len(blocked_in_microsoft(ms)) == 1


@pytest.mark.parametrize(
    ("accounts", "percent", "field"),
    [
        (0, 10, "max_accounts"),
        (100_001, 10, "max_accounts"),
        ("ten", 10, "max_accounts"),
        (50, 0, "max_percent"),
        (50, 101, "max_percent"),
        (50, "", "max_percent"),
    ],
)
def test_thresholds_out_of_range_are_refused_naming_the_field(
    acme, alice, tenant, accounts, percent, field
):
    with pytest.raises(InvalidInput) as refused:
        services.tenant_brake_update(
            actor=alice, tenant=tenant, max_accounts=accounts, max_percent=percent
        )
    assert list(refused.value.fields) == [field]
    assert "whole number" in refused.value.fields[field][0]
    assert not DeprovisionBrake.objects.filter(tenant=tenant).exists()  # nothing half-done


def test_the_percentage_applies_when_it_is_the_larger(acme, alice, ms, tenant):
    services.tenant_brake_update(actor=alice, tenant=tenant, max_accounts=1, max_percent=50)
    bound_staff(acme, alice, ms, tenant, 5)
    assert brake.brake_limit(DeprovisionBrake.objects.get(tenant=tenant)) == 3  # 50 % of 5


def test_the_tenant_page_shows_the_held_blocks_and_an_owner_releases_them(
    client, acme, alice, ms, tenant
):
    services.tenant_brake_update(actor=alice, tenant=tenant, max_accounts=1, max_percent=1)
    staff = bound_staff(acme, alice, ms, tenant, 3)
    for user in staff:
        directory_services.user_suspend(actor=alice, user=user)
    sync(tenant)
    client.force_login(alice)

    page = client.get(reverse("m365:tenant", args=[tenant.pk])).content.decode()
    assert 'id="held-banner"' in page and "2 blocks of Microsoft 365 accounts are held" in page
    for held in HeldBlock.objects.all():
        assert held.user_label in page
    assert "suspended" in page and alice.email in page

    response = client.post(reverse("m365:held_release", args=[tenant.pk]), follow=True)
    assert b"2 held blocks were released" in response.content
    sync(tenant)
    assert len(blocked_in_microsoft(ms)) == 3
    assert selectors.tenant_brake_status(tenant=tenant)["held_count"] == 0


def test_the_console_names_the_field_of_a_bad_threshold(client, acme, alice, tenant):
    client.force_login(alice)
    response = client.post(
        reverse("m365:brake", args=[tenant.pk]),
        {"max_accounts": "-3", "max_percent": "10"},
        follow=True,
    )
    assert b"max_accounts: Enter a whole number of accounts from 1 to 100000." in response.content
    assert not DeprovisionBrake.objects.filter(tenant=tenant, max_accounts=-3).exists()


def test_releasing_held_blocks_asks_to_confirm_it_is_you_after_a_few_minutes(
    client, acme, alice, ms, tenant
):
    services.tenant_brake_update(actor=alice, tenant=tenant, max_accounts=1, max_percent=1)
    for user in bound_staff(acme, alice, ms, tenant, 3):
        directory_services.user_suspend(actor=alice, user=user)
    sync(tenant)
    client.force_login(alice)
    session = client.session
    session[reauth.SESSION_KEY] = session[reauth.SESSION_KEY] - 6 * 60
    session.save()

    response = client.post(reverse("m365:held_release", args=[tenant.pk]))

    back = reverse("m365:tenant", args=[tenant.pk])
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('console:reauth')}?{urlencode({'next': back})}"
    assert selectors.tenant_brake_status(tenant=tenant)["held_count"] == 2
