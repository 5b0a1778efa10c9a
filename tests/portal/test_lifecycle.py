from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from audit.models import Event
from directory import emails, hooks, lifecycle, services
from directory.errors import InvalidInput, NotAllowed
from directory.models import AccountToken, SentEmail, User
from tests.conftest import PASSWORD

from .helpers import link_in, reload

NEW_PASSWORD = "Brand-New-Secret-77"


def token_from(message) -> str:
    return link_in(message).rstrip("/").rsplit("/", 1)[1]


# --- activation (P9) -------------------------------------------------------------------


def test_creating_a_user_sends_the_welcome_email_after_commit(
    acme, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        user = services.user_create(
            actor=alice, organization=acme, email="erin@acme.example", first_name="Erin"
        )
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["erin@acme.example"]
    assert "activate" in message.subject.lower()
    assert "/portal/activate/" in link_in(message)
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and link_in(message) in html
    record = SentEmail.objects.get(user=user)
    assert record.kind == SentEmail.ACTIVATION and record.sent_at is not None
    assert Event.objects.filter(type="user_activation_send", target_id=str(user.pk)).exists()


def test_no_welcome_email_when_the_admin_turns_it_off(
    acme, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.user_create(
            actor=alice, organization=acme, email="erin@acme.example", send_activation=False
        )
    assert mailoutbox == []


def test_no_welcome_email_for_a_user_created_with_a_password(
    acme, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.user_create(
            actor=alice, organization=acme, email="erin@acme.example", password=PASSWORD
        )
    assert mailoutbox == []


def test_no_welcome_email_when_the_create_is_rolled_back(
    acme, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            services.user_create(actor=alice, organization=acme, email="erin@acme.example")
            raise RuntimeError("something later in the same request failed")
    assert mailoutbox == []


def test_the_activation_link_sets_the_first_password_and_activates(
    staged, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        emails.activation_send(actor=alice, user=staged)
    token = token_from(mailoutbox[0])
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.token_redeem(token=token, purpose=AccountToken.ACTIVATION, password=NEW_PASSWORD)
    user = reload(staged)
    assert user.status == User.ACTIVE and user.check_password(NEW_PASSWORD)
    event = Event.objects.filter(type="user_password_set", target_id=str(user.pk)).get()
    assert event.details["source"] == "activation" and event.details["activated"] is True
    assert len(mailoutbox) == 1  # a first password is not a "your password changed" alert


def test_an_activation_link_works_only_once(
    staged, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        emails.activation_send(actor=alice, user=staged)
    token = token_from(mailoutbox[0])
    lifecycle.token_redeem(token=token, purpose=AccountToken.ACTIVATION, password=NEW_PASSWORD)
    with pytest.raises(InvalidInput) as raised:
        lifecycle.token_redeem(
            token=token, purpose=AccountToken.ACTIVATION, password="Another-Secret-88"
        )
    assert raised.value.code == "link_invalid"


def test_a_refused_password_does_not_use_up_the_link(
    staged, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        emails.activation_send(actor=alice, user=staged)
    token = token_from(mailoutbox[0])
    with pytest.raises(InvalidInput) as raised:
        lifecycle.token_redeem(token=token, purpose=AccountToken.ACTIVATION, password="weak")
    assert raised.value.fields["password"]
    lifecycle.token_redeem(token=token, purpose=AccountToken.ACTIVATION, password=NEW_PASSWORD)
    assert reload(staged).status == User.ACTIVE


def test_resending_activation_makes_the_earlier_link_stop_working(
    staged, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        emails.activation_send(actor=alice, user=staged)
        emails.activation_send(actor=alice, user=staged)
    first, second = token_from(mailoutbox[0]), token_from(mailoutbox[1])
    assert lifecycle.token_find(token=first, purpose=AccountToken.ACTIVATION) is None
    assert lifecycle.token_find(token=second, purpose=AccountToken.ACTIVATION) is not None


def test_a_link_with_a_wrong_secret_or_purpose_is_refused(
    staged, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        emails.activation_send(actor=alice, user=staged)
    token = token_from(mailoutbox[0])
    lookup = token.split(".")[0]
    assert lifecycle.token_find(token=f"{lookup}.wrong", purpose=AccountToken.ACTIVATION) is None
    assert lifecycle.token_find(token=token, purpose=AccountToken.RESET) is None
    assert lifecycle.token_find(token="garbage", purpose=AccountToken.ACTIVATION) is None


def test_only_a_hash_of_the_link_is_stored(
    staged, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        emails.activation_send(actor=alice, user=staged)
    token = token_from(mailoutbox[0])
    row = AccountToken.objects.get(user=staged)
    assert token.split(".", 1)[1] not in row.token_hash
    assert row.token_hash == AccountToken.hash_token(token)


def test_an_active_user_cannot_be_sent_an_activation(bob, alice):
    with pytest.raises(NotAllowed):
        emails.activation_send(actor=alice, user=bob)


# --- reset -------------------------------------------------------------------------------


def test_a_reset_link_expires_after_the_configured_time(
    bob, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.PASSWORD_RESET_TIMEOUT = 3600
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.password_reset_request(email="BOB@acme.example")
    token = token_from(mailoutbox[0])
    row = AccountToken.objects.get(user=bob, purpose=AccountToken.RESET)
    assert timedelta(minutes=59) < row.expires_at - row.created_at <= timedelta(hours=1)
    AccountToken.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(InvalidInput):
        lifecycle.token_redeem(token=token, purpose=AccountToken.RESET, password=NEW_PASSWORD)


def test_a_reset_sets_the_password_and_kills_other_links(
    bob, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        emails.password_reset_send(actor=alice, user=bob)
    token = token_from(mailoutbox[0])
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.token_redeem(token=token, purpose=AccountToken.RESET, password=NEW_PASSWORD)
    assert reload(bob).check_password(NEW_PASSWORD)
    assert not AccountToken.objects.filter(user=bob, used_at__isnull=True).exists()
    assert mailoutbox[-1].subject.endswith("password was changed")


def test_forgot_password_for_an_unknown_email_sends_nothing(
    db, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.password_reset_request(email="nobody@acme.example") is None
    assert mailoutbox == []


def test_forgot_password_for_a_staged_user_sends_the_activation_instead(
    staged, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.password_reset_request(email=staged.email)
    assert "/portal/activate/" in link_in(mailoutbox[0])


def test_forgot_password_for_a_suspended_user_sends_nothing(
    bob, alice, mailoutbox, django_capture_on_commit_callbacks
):
    services.user_suspend(actor=alice, user=bob)
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.password_reset_request(email=bob.email)
    assert mailoutbox == []


def test_forgot_password_sends_at_most_one_link_a_minute(
    bob, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.password_reset_request(email=bob.email)
        lifecycle.password_reset_request(email=bob.email)
    assert len(mailoutbox) == 1


def test_a_suspended_users_reset_link_stops_working(
    bob, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        emails.password_reset_send(actor=alice, user=bob)
    services.user_suspend(actor=alice, user=bob)
    assert lifecycle.token_find(token=token_from(mailoutbox[0]), purpose=AccountToken.RESET) is None


# --- changes and the "your password was changed" email ----------------------------------


def test_every_password_change_emails_the_user(
    bob, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.user_set_password(actor=alice, user=bob, password=NEW_PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.password_change(
            user=reload(bob), current_password=NEW_PASSWORD, new_password="Third-Secret-Value-9"
        )
    assert [m.subject for m in mailoutbox] == ["Your Acme password was changed"] * 2
    assert "by an administrator" in mailoutbox[0].body
    assert "by an administrator" not in mailoutbox[1].body
    assert NEW_PASSWORD not in mailoutbox[0].body + mailoutbox[0].alternatives[0][0]


def test_a_change_needs_the_right_current_password(bob):
    with pytest.raises(InvalidInput) as raised:
        lifecycle.password_change(user=bob, current_password="nope", new_password=NEW_PASSWORD)
    assert raised.value.fields == {"current_password": [lifecycle.WRONG_CURRENT]}


def test_a_temporary_password_must_be_changed_and_the_change_clears_it(bob, alice):
    lifecycle.password_set_temporary(actor=alice, user=bob, password="Temporary-Pass-11")
    bob = reload(bob)
    assert bob.must_change_password and lifecycle.user_must_set_password(bob)
    lifecycle.password_change(
        user=bob, current_password="Temporary-Pass-11", new_password=NEW_PASSWORD
    )
    bob = reload(bob)
    assert not bob.must_change_password and not lifecycle.user_must_set_password(bob)


def test_a_failed_email_is_logged_with_its_reason(
    bob, alice, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
    with django_capture_on_commit_callbacks(execute=True):
        emails.password_reset_send(actor=alice, user=bob)
    record = SentEmail.objects.get(user=bob)
    assert record.sent_at is None and record.error


# --- expiry (P6) -------------------------------------------------------------------------


@pytest.fixture
def expiring(acme, bob):
    acme.password_max_age_days = 90
    acme.save()
    return reload(bob)


def _age(user, days_left: float, now):
    changed = now - timedelta(days=90) + timedelta(days=days_left)
    User.objects.filter(pk=user.pk).update(password_changed_at=changed)


def _warnings(user):
    return list(
        SentEmail.objects.filter(user=user, kind=SentEmail.EXPIRY_WARNING)
        .order_by("created_at")
        .values_list("dedupe_key", flat=True)
    )


def test_warnings_go_out_14_7_and_1_days_ahead_once_each(
    expiring, mailoutbox, django_capture_on_commit_callbacks
):
    now = timezone.now()
    _age(expiring, 30, now)
    assert lifecycle.expiry_run(now=now) == {"warned": 0, "expired": 0}
    with django_capture_on_commit_callbacks(execute=True):
        for days_ahead in (13.5, 13, 6.5, 6, 0.5, 0.25):
            lifecycle.expiry_run(now=now + timedelta(days=30 - days_ahead))
    assert [key.rsplit(":", 1)[1] for key in _warnings(expiring)] == ["14", "7", "1"]
    assert [m.subject for m in mailoutbox] == [
        "Your Acme password expires in 14 days",
        "Your Acme password expires in 7 days",
        "Your Acme password expires in 1 day",
    ]


def test_a_missed_run_sends_only_the_nearest_warning(expiring, mailoutbox):
    now = timezone.now()
    _age(expiring, 5, now)
    assert lifecycle.expiry_run(now=now) == {"warned": 1, "expired": 0}
    assert lifecycle.expiry_run(now=now) == {"warned": 0, "expired": 0}
    assert [key.rsplit(":", 1)[1] for key in _warnings(expiring)] == ["7"]


def test_a_new_password_starts_the_warnings_again(expiring, alice):
    now = timezone.now()
    _age(expiring, 5, now)
    lifecycle.expiry_run(now=now)
    services.user_set_password(actor=alice, user=reload(expiring), password=NEW_PASSWORD)
    lifecycle.expiry_run(now=timezone.now() + timedelta(days=84))
    assert len(_warnings(expiring)) == 2


def test_an_expired_password_is_announced_once_so_bridges_block_sign_in(expiring, alice):
    heard = []
    hooks.subscribe(heard.append)
    try:
        now = timezone.now()
        _age(expiring, -1, now)
        assert lifecycle.expiry_run(now=now)["expired"] == 1
        assert lifecycle.expiry_run(now=now)["expired"] == 0
    finally:
        hooks._subscribers.remove(heard.append)
    assert [c.kind for c in heard] == [hooks.USER_PASSWORD_EXPIRED]
    user = reload(expiring)
    assert user.password_expired_at is not None and lifecycle.user_must_set_password(user)
    assert Event.objects.filter(type="user_password_expire", target_id=str(user.pk)).count() == 1
    services.user_set_password(actor=alice, user=user, password=NEW_PASSWORD)
    user = reload(user)
    assert user.password_expired_at is None and not lifecycle.user_must_set_password(user)


def test_no_warnings_when_passwords_never_expire(bob, mailoutbox):
    _age(bob, -400, timezone.now())
    assert lifecycle.expiry_run() == {"warned": 0, "expired": 0}


def test_the_scheduled_task_runs_the_expiry_job(expiring):
    from config.settings import CELERY_BEAT_SCHEDULE
    from workers.tasks import password_expiry_run

    _age(expiring, 3, timezone.now())
    entry = CELERY_BEAT_SCHEDULE["password-expiry"]
    assert entry["task"] == password_expiry_run.name
    assert password_expiry_run.apply().get() == {"warned": 1, "expired": 0}


# --- sign-in slowdown and lock-out ---------------------------------------------------------


@pytest.fixture
def throttle(settings):
    settings.PORTAL_SIGN_IN_THROTTLE = {
        # Waits long enough that a slow test run cannot outlast them by accident.
        "account": {"free": 2, "lock_after": 4, "lock_seconds": 600, "first_wait_seconds": 30},
        "address": {"free": 20, "lock_after": 50, "lock_seconds": 600},
    }


def _attempt(email, password, address="10.0.0.1"):
    return lifecycle.sign_in_attempt(email=email, password=password, address=address)


def _unblock(scope_key_part=None):
    from directory.models import SignInThrottle

    SignInThrottle.objects.update(blocked_until=timezone.now() - timedelta(seconds=1))


def test_failures_slow_down_then_lock_the_account(bob, throttle):
    assert _attempt(bob.email, "wrong").retry_at is None
    assert _attempt(bob.email, "wrong").retry_at is None
    third = _attempt(bob.email, "wrong")
    assert third.retry_at is not None and not third.refused
    assert timedelta(seconds=25) < third.retry_at - timezone.now() <= timedelta(seconds=30)
    refused = _attempt(bob.email, PASSWORD)
    assert refused.refused and refused.user is None
    _unblock()
    locked = _attempt(bob.email, "wrong")
    assert locked.retry_at > timezone.now() + timedelta(minutes=9)
    assert _attempt(bob.email, PASSWORD).refused
    event = Event.objects.get(type="user_sign_in_lock")
    assert event.target_id == str(bob.pk) and event.details["scope"] == "account"


def test_an_unknown_email_is_throttled_exactly_like_a_real_one(bob, throttle):
    for _ in range(4):
        real, fake = _attempt(bob.email, "wrong"), _attempt("nobody@acme.example", "wrong")
        assert (real.retry_at is None, real.refused) == (fake.retry_at is None, fake.refused)


def test_the_lock_ends_on_its_own_and_that_is_an_event(bob, throttle):
    for _ in range(3):
        _attempt(bob.email, "wrong")
    _unblock()
    _attempt(bob.email, "wrong")  # the fourth failure locks
    _unblock()
    assert _attempt(bob.email, PASSWORD).user == bob
    assert Event.objects.filter(type="user_sign_in_unlock", target_id=str(bob.pk)).exists()


def test_an_admin_can_lift_a_lock(bob, alice, throttle):
    for _ in range(3):
        _attempt(bob.email, "wrong")
    _unblock()
    _attempt(bob.email, "wrong")
    assert lifecycle.sign_in_locked_until(user=bob) is not None
    assert lifecycle.sign_in_unlock(actor=alice, user=bob) is True
    assert _attempt(bob.email, PASSWORD).user == bob
    assert Event.objects.get(type="user_sign_in_unlock").actor == alice


def test_one_address_trying_many_accounts_is_locked(bob, settings):
    settings.PORTAL_SIGN_IN_THROTTLE = {"address": {"free": 3, "lock_after": 5}}
    for n in range(3):
        assert _attempt(f"guess{n}@acme.example", "x", "10.9.9.9").retry_at is None
    for n in range(3, 5):
        _unblock()
        _attempt(f"guess{n}@acme.example", "x", "10.9.9.9")
    assert _attempt(bob.email, PASSWORD, "10.9.9.9").refused
    assert _attempt(bob.email, PASSWORD, "10.1.1.1").user == bob
    assert Event.objects.filter(type="sign_in_lock", target_type="address").exists()


def test_a_success_clears_the_accounts_failures(bob, throttle):
    _attempt(bob.email, "wrong")
    _attempt(bob.email, "wrong")
    assert _attempt(bob.email, PASSWORD).user == bob
    assert _attempt(bob.email, "wrong").retry_at is None


def test_housekeeping_forgets_old_failures_and_dead_links_but_keeps_live_locks(
    bob, alice, throttle
):
    from config.settings import CELERY_BEAT_SCHEDULE
    from directory.models import SignInThrottle
    from workers.tasks import account_lifecycle_prune

    for _ in range(3):
        _attempt(bob.email, "wrong")
        _unblock()
    _attempt(bob.email, "wrong")  # the fourth failure locks
    _attempt("nobody@acme.example", "wrong")
    emails.password_reset_send(actor=alice, user=bob)
    later = timezone.now() + timedelta(days=2)
    SignInThrottle.objects.filter(locked=True).update(blocked_until=later + timedelta(hours=1))
    assert lifecycle.lifecycle_prune(now=later) == {"throttles": 2, "tokens": 0}
    assert SignInThrottle.objects.filter(locked=True).count() == 1
    assert lifecycle.lifecycle_prune(now=later + timedelta(days=31))["tokens"] == 1
    assert CELERY_BEAT_SCHEDULE["account-lifecycle-prune"]["task"] == account_lifecycle_prune.name
