"""Profile photos and Microsoft 365 (I5), against graphsim over HTTPS with the real MSAL
client: a changed photo is pushed to the bound account (one PUT photo/$value, event
user_photo_update_provision), a removed one is deleted there, a photo set before the
account exists follows it, Microsoft's refusal is shown and not retried, a busy
Microsoft is retried later, and bad input is never pushed."""

import pytest

from audit.models import Event
from directory import photos
from directory.errors import InvalidInput
from m365bridge import services
from m365bridge.models import UserPhotoSync
from tests.photo_files import image, pdf_renamed

from .provisioning import employee, graph_log, log_mark, sync

pytest_plugins = ["tests.m365bridge.provisioning"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def bound(acme, alice, ms, tenant, name):
    user = employee(acme, alice, ms, name)
    services.user_bind(actor=alice, tenant=tenant, user=user)
    sync(tenant)
    user.refresh_from_db()
    return user


def photo_writes(ms, since) -> list[tuple]:
    return [
        (r["method"], r["status"])
        for r in graph_log(ms, since)
        if r["write"] and "/photo/" in r["path"]
    ]


def provision_events(outcome="success"):
    rows = Event.objects.filter(type="user_photo_update_provision", outcome=outcome)
    return list(rows.order_by("pk"))


def test_a_new_photo_is_pushed_to_the_bound_account_once(
    acme, alice, ms, tenant, queued, django_capture_on_commit_callbacks
):
    ann = bound(acme, alice, ms, tenant, "ann")
    data = image("PNG", size=(200, 200))
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        photos.user_photo_set(actor=alice, user=ann, data=data)
    assert queued == [tenant.pk]
    mark = log_mark(ms)
    result = sync(tenant)
    assert result.counts.get("photo") == 1
    assert photo_writes(ms, mark) == [("PUT", 204)]
    assert ms["control"].user_photo(ms["id"], ann.email) == data
    [event] = provision_events()
    assert event.actor_id == alice.pk and event.details["action"] == "set"
    assert event.details["bytes"] == len(data)
    mark = log_mark(ms)
    sync(tenant)
    assert photo_writes(ms, mark) == []  # nothing left to send


def test_a_removed_photo_is_deleted_in_microsoft_365(acme, alice, ms, tenant):
    ben = bound(acme, alice, ms, tenant, "ben")
    photos.user_photo_set(actor=alice, user=ben, data=image())
    sync(tenant)
    photos.user_photo_remove(actor=alice, user=ben)
    mark = log_mark(ms)
    sync(tenant)
    assert photo_writes(ms, mark) == [("DELETE", 204)]
    assert ms["control"].user_photo(ms["id"], ben.email) is None
    assert [e.details["action"] for e in provision_events()] == ["set", "remove"]


def test_a_photo_set_before_the_account_exists_follows_it(acme, alice, ms, tenant):
    cai = employee(acme, alice, ms, "cai")
    photos.user_photo_set(actor=alice, user=cai, data=image())
    services.user_bind(actor=alice, tenant=tenant, user=cai)
    mark = log_mark(ms)
    sync(tenant)
    methods = [(r["method"], r["path"].split("/")[-1]) for r in graph_log(ms, mark) if r["write"]]
    assert methods == [("POST", "users"), ("PUT", "$value")]  # the account first
    assert ms["control"].user_photo(ms["id"], cai.email) is not None


def test_bad_input_is_never_pushed(acme, alice, ms, tenant):
    dee = bound(acme, alice, ms, tenant, "dee")
    with pytest.raises(InvalidInput):
        photos.user_photo_set(actor=alice, user=dee, data=pdf_renamed())
    mark = log_mark(ms)
    sync(tenant)
    assert photo_writes(ms, mark) == []
    assert not UserPhotoSync.objects.filter(needs_sync=True).exists()


def test_microsofts_refusal_is_shown_on_the_row_and_not_retried(acme, alice, ms, tenant):
    eve = bound(acme, alice, ms, tenant, "eve")
    # Microsoft refuses photos over 4 MB; Stratus would too, so let Stratus take more.
    from django.test import override_settings

    big = image("PNG", size=(2000, 2000), colour=(1, 2, 3))
    big = big + b"\x00" * (4 * 1024 * 1024 + 1 - len(big))
    with override_settings(STRATUS_PHOTO_MAX_BYTES=8 * 1024 * 1024):
        photos.user_photo_set(actor=alice, user=eve, data=big)
        mark = log_mark(ms)
        sync(tenant)
    row = UserPhotoSync.objects.get(binding__user=eve)
    assert (row.state, row.needs_sync, row.last_error_code) == ("error", False, "ImageTooLarge")
    [failure] = provision_events("failure")
    assert failure.details["code"] == "ImageTooLarge"
    assert photo_writes(ms, mark) == [("PUT", 400)]


def test_a_busy_microsoft_is_retried_later(acme, alice, ms, tenant):
    fay = bound(acme, alice, ms, tenant, "fay")
    ms["control"].set_faults(ms["id"], error_rate=1.0, error_statuses=[503])
    photos.user_photo_set(actor=alice, user=fay, data=image())
    sync(tenant)
    row = UserPhotoSync.objects.get(binding__user=fay)
    assert row.needs_sync and row.next_attempt_at is not None and row.attempts == 1
    ms["control"].clear_faults(ms["id"])
    UserPhotoSync.objects.filter(pk=row.pk).update(next_attempt_at=None)
    sync(tenant)
    row.refresh_from_db()
    assert (row.state, row.needs_sync) == ("provisioned", False)
    assert ms["control"].user_photo(ms["id"], fay.email) is not None
