"""An account's life after it is created: redeeming activation and reset links,
passwords chosen in the portal, sign-in slowdown and lock-out, and password expiry
(DESIGN P6, P9). The emails and the links in them are `directory.emails`.

Every password still goes through `services.user_set_password`, so the policy, the
history, the event and the push to bridges stay in one place. Imports go one way:
lifecycle builds on services and emails; services uses emails.
"""

import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.utils import timezone

from audit.services import event_record

from . import emails, hooks, services
from .backoff import growing_wait
from .errors import InvalidInput
from .models import (
    AccountToken,
    KnownSignInAddress,
    Organization,
    SentEmail,
    SignInThrottle,
    User,
)

LINK_INVALID = "This link is not valid any more. Links work once and expire; ask for a new one."
WRONG_CURRENT = "Your current password is not correct."
EXPIRY_WARNING_DAYS = (14, 7, 1)
RESET_EMAIL_MIN_INTERVAL = timedelta(seconds=60)


# --- links coming back (activation and reset) -----------------------------------------


def token_find(*, token: str, purpose: str) -> AccountToken | None:
    """The usable link that `token` is, or None (unknown, wrong, used, expired, or the
    account is no longer in a state the link is for)."""
    lookup, _, rest = (token or "").partition(".")
    if len(lookup) != 16 or not rest:
        return None
    row = (
        AccountToken.objects.select_related("user", "user__organization")
        .filter(lookup=lookup, purpose=purpose)
        .first()
    )
    if row is None or not hmac.compare_digest(row.token_hash, AccountToken.hash_token(token)):
        return None
    if not row.is_usable() or row.user.organization_id is None:
        return None
    wanted = User.STAGED if purpose == AccountToken.ACTIVATION else User.ACTIVE
    return row if row.user.status == wanted else None


@transaction.atomic
def token_redeem(*, token: str, purpose: str, password: str) -> User:
    """Set the password a link was sent for. The link is used up only when the password
    is accepted, so a refused password can be corrected and sent again."""
    row = token_find(token=token, purpose=purpose)
    if row is None:
        raise InvalidInput(LINK_INVALID, code="link_invalid")
    now = timezone.now()
    claimed = AccountToken.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=now)
    if claimed != 1:  # a concurrent request used it first
        raise InvalidInput(LINK_INVALID, code="link_invalid")
    user = services.user_set_password(
        actor=row.user, user=row.user, password=password, source=purpose
    )
    # Any other open link was sent for the old password; none may be used now.
    AccountToken.objects.filter(user=user, used_at__isnull=True).update(used_at=now)
    return user


# --- "forgot password" ----------------------------------------------------------------


def password_reset_request(*, email: str) -> None:
    """ "Forgot password": send a link if the address belongs to someone who may have one.
    Says nothing to the caller either way, so it cannot reveal who has an account."""
    user = (
        User.objects.select_related("organization")
        .filter(email__iexact=(email or "").strip(), organization__isnull=False)
        .first()
    )
    if user is None:
        return
    recent = SentEmail.objects.filter(
        user=user,
        kind__in=[SentEmail.RESET, SentEmail.ACTIVATION],
        created_at__gt=timezone.now() - RESET_EMAIL_MIN_INTERVAL,
    ).exists()
    if recent:  # one link a minute is plenty, and keeps the form from flooding a mailbox
        return
    if user.status == User.STAGED:
        emails.activation_send(actor=None, user=user)
    elif user.status == User.ACTIVE:
        emails.password_reset_send(actor=user, user=user)


# --- passwords chosen in the portal or set by an admin -------------------------------


def password_change(*, user: User, current_password: str, new_password: str) -> User:
    """The portal's change-password form: the current password proves it is them."""
    if not user.check_password(current_password or ""):
        raise InvalidInput.for_field("current_password", WRONG_CURRENT)
    return services.user_set_password(actor=user, user=user, password=new_password, source="portal")


def password_set_temporary(*, actor: User, user: User, password: str) -> User:
    """An admin gives a temporary password; the portal then lets the user in only to
    choose their own."""
    return services.user_set_password(
        actor=actor, user=user, password=password, source="admin_temporary", must_change=True
    )


def password_expires_at(user: User) -> datetime | None:
    organization = user.organization
    if organization is None or not organization.password_max_age_days:
        return None
    if user.password_changed_at is None:
        return None
    return user.password_changed_at + timedelta(days=organization.password_max_age_days)


def password_is_expired(user: User, *, now: datetime | None = None) -> bool:
    expires = password_expires_at(user)
    return expires is not None and expires <= (now or timezone.now())


def user_must_set_password(user: User) -> bool:
    """True when this signed-in user may do nothing but choose a new password."""
    return bool(user.must_change_password) or password_is_expired(user)


# --- expiry (scheduled) ---------------------------------------------------------------


def expiry_run(*, now: datetime | None = None) -> dict[str, int]:
    """The daily job: warn 14, 7 and 1 days ahead (each warning once per password, and
    only the nearest one if the job missed a day), and announce passwords that have
    expired so bridges block remote sign-in. Safe to run any number of times."""
    now = now or timezone.now()
    counts = {"warned": 0, "expired": 0}
    organizations = Organization.objects.filter(password_max_age_days__isnull=False)
    for organization in organizations.iterator():
        first_warning = organization.password_max_age_days - max(EXPIRY_WARNING_DAYS)
        horizon = now - timedelta(days=first_warning)
        users = User.objects.for_organization(organization).filter(
            status=User.ACTIVE,
            password_changed_at__isnull=False,
            password_changed_at__lte=horizon,
        )
        for user in users.iterator():
            user.organization = organization
            outcome = _expiry_check(user=user, now=now)
            if outcome:
                counts[outcome] += 1
    return counts


@transaction.atomic
def _expiry_check(*, user: User, now: datetime) -> str | None:
    expires = password_expires_at(user)
    if expires is None:
        return None
    left = expires - now
    if left <= timedelta(0):
        return "expired" if _expire(user=user, now=now) else None
    due = [days for days in EXPIRY_WARNING_DAYS if left <= timedelta(days=days)]
    if not due:
        return None
    days = min(due)
    record = emails.expiry_warning_send(
        user=user,
        days=days,
        days_left=max(1, math.ceil(left / timedelta(days=1))),
        expires_at=expires,
    )
    return "warned" if record else None


def _expire(*, user: User, now: datetime) -> bool:
    changed = User.objects.filter(pk=user.pk, password_expired_at__isnull=True).update(
        password_expired_at=now
    )
    if not changed:
        return False
    event_record(
        organization=user.organization,
        type="user_password_expire",
        actor=None,
        target=user,
        details={"expired_at": password_expires_at(user).isoformat()},
    )
    hooks.announce(
        hooks.DirectoryChange(
            kind=hooks.USER_PASSWORD_EXPIRED,
            organization_id=user.organization_id,
            user_id=user.pk,
        )
    )
    return True


def password_expiry_check(*, user: User, now: datetime | None = None) -> bool:
    """At sign-in: a password that passed the maximum age since the last scheduled run is
    announced now, so bridges block remote sign-in at once (P6). True if it expired now."""
    now = now or timezone.now()
    if user.password_expired_at is not None or not password_is_expired(user, now=now):
        return False
    with transaction.atomic():
        expired = _expire(user=user, now=now)
    if expired:
        user.password_expired_at = now
    return expired


# --- portal sign-in: slowdown and lock-out ---------------------------------------------


@dataclass(frozen=True)
class ThrottlePolicy:
    free: int  # failures allowed before any wait
    lock_after: int  # failures that lock
    lock_seconds: int
    first_wait_seconds: int = 1  # doubles with each further failure
    max_wait_seconds: int = 60


def _policy(scope: str) -> ThrottlePolicy:
    defaults = {
        SignInThrottle.ACCOUNT: {"free": 3, "lock_after": 10, "lock_seconds": 15 * 60},
        SignInThrottle.ADDRESS: {"free": 20, "lock_after": 50, "lock_seconds": 15 * 60},
    }
    overrides = getattr(settings, "PORTAL_SIGN_IN_THROTTLE", {}).get(scope, {})
    return ThrottlePolicy(**{**defaults[scope], **overrides})


@dataclass(frozen=True)
class SignInResult:
    user: User | None = None
    retry_at: datetime | None = None  # when the next attempt may be made, if not now
    refused: bool = False  # True when the password was not even checked


def client_address(request) -> str:
    """The address sign-in throttling counts against. Behind TRUSTED_PROXY_COUNT reverse
    proxies, the address the outermost trusted proxy saw; never a header a client could
    forge on its own."""
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [
        a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()
    ]
    if proxies and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def wait_message(retry_at: datetime) -> str:
    seconds = max(1, math.ceil((retry_at - timezone.now()).total_seconds()))
    wait = f"{seconds} seconds" if seconds < 90 else f"{math.ceil(seconds / 60)} minutes"
    return f"Too many failed sign-ins. Try again in {wait} (after {retry_at:%H:%M:%S} UTC)."


def sign_in_attempt(*, email: str, password: str, address: str, request=None) -> SignInResult:
    """Check the password unless this account or client address must wait. The answer
    is the same whether or not the email exists: unknown emails are throttled too."""
    email = (email or "").strip().lower()
    keys = [(SignInThrottle.ACCOUNT, email), (SignInThrottle.ADDRESS, address or "unknown")]
    now = timezone.now()
    # Strangers must not lock a person out: from an address they signed in from before,
    # only the per-address slowdown applies, not the account's lock-out.
    checked = keys[1:] if _address_is_known(email=email, address=address) else keys
    waits = [
        until for scope, value in checked if (until := _blocked_until(scope, value, email, now))
    ]
    if waits:
        return SignInResult(retry_at=max(waits), refused=True)
    user = authenticate(request, email=email, password=password or "")
    if user is not None and user.organization_id is not None:
        _throttle_clear(SignInThrottle.ACCOUNT, email)
        password_expiry_check(user=user)
        hooks.announce(
            hooks.DirectoryChange(
                kind=hooks.USER_SIGNED_IN,
                organization_id=user.organization_id,
                actor_id=user.pk,
                user_id=user.pk,
                password=password,
            )
        )
        return SignInResult(user=user)
    waits = [until for scope, value in keys if (until := _failure(scope, value, email, now))]
    return SignInResult(retry_at=max(waits) if waits else None)


def _address_is_known(*, email: str, address: str) -> bool:
    """Whether this person signed in successfully from this address before
    (`directory.signins` remembers it)."""
    return KnownSignInAddress.objects.filter(user__email__iexact=email, address=address).exists()


@transaction.atomic
def _blocked_until(scope: str, value: str, email: str, now: datetime) -> datetime | None:
    row = (
        SignInThrottle.objects.select_for_update()
        .filter(key=SignInThrottle.key_for(scope, value))
        .first()
    )
    if row is None or row.blocked_until is None:
        return None
    if row.blocked_until > now:
        return row.blocked_until
    if row.locked:  # the lock ran out: say so once, and start counting afresh
        row.locked, row.failures, row.blocked_until = False, 0, None
        row.save(update_fields=["locked", "failures", "blocked_until"])
        _throttle_event("sign_in_unlock", scope, value, email, {"reason": "expired"})
    return None


@transaction.atomic
def _failure(scope: str, value: str, email: str, now: datetime) -> datetime | None:
    policy = _policy(scope)
    row, _ = SignInThrottle.objects.select_for_update().get_or_create(
        key=SignInThrottle.key_for(scope, value)
    )
    if row.last_failure_at and now - row.last_failure_at > timedelta(seconds=policy.lock_seconds):
        row.failures = 0  # old failures are forgiven
    row.failures += 1
    row.last_failure_at = now
    row.blocked_until = None
    if row.failures >= policy.lock_after:
        row.locked = True
        row.blocked_until = now + timedelta(seconds=policy.lock_seconds)
        _throttle_event(
            "sign_in_lock",
            scope,
            value,
            email,
            {"failures": row.failures, "until": row.blocked_until.isoformat()},
        )
    elif row.failures > policy.free:
        wait = growing_wait(
            row.failures - policy.free,
            first=policy.first_wait_seconds,
            cap=policy.max_wait_seconds,
        )
        row.blocked_until = now + timedelta(seconds=wait)
    row.save()
    return row.blocked_until


def _throttle_clear(scope: str, value: str) -> None:
    SignInThrottle.objects.filter(key=SignInThrottle.key_for(scope, value)).delete()


def _throttle_event(kind: str, scope: str, value: str, email: str, details: dict) -> None:
    details = {"scope": scope, **details}
    if scope == SignInThrottle.ACCOUNT:
        user = (
            User.objects.select_related("organization")
            .filter(email__iexact=email, organization__isnull=False)
            .first()
        )
        if user is not None:
            event_record(
                organization=user.organization,
                type=f"user_{kind}",
                actor=None,
                target=user,
                details=details,
            )
            return
        event_record(
            organization=None,
            type=kind,
            target_type="account",
            target_label=value[:255],
            details=details,
        )
        return
    event_record(
        organization=None,
        type=kind,
        target_type="address",
        target_label=value[:255],
        details=details,
    )


def sign_in_unlock(*, actor: User, user: User) -> bool:
    """An admin lifts a lock-out of this account before it runs out."""
    key = SignInThrottle.key_for(SignInThrottle.ACCOUNT, user.email)
    with transaction.atomic():
        deleted, _ = SignInThrottle.objects.filter(key=key, locked=True).delete()
        if deleted:
            event_record(
                organization=user.organization,
                type="user_sign_in_unlock",
                actor=actor,
                target=user,
                details={"scope": SignInThrottle.ACCOUNT, "reason": "admin"},
            )
    return bool(deleted)


def sign_in_locked_until(*, user: User) -> datetime | None:
    row = SignInThrottle.objects.filter(
        key=SignInThrottle.key_for(SignInThrottle.ACCOUNT, user.email),
        locked=True,
        blocked_until__gt=timezone.now(),
    ).first()
    return row.blocked_until if row else None


def lifecycle_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Housekeeping: forget sign-in failures nobody is serving time for any more, and
    links that stopped working a month ago."""
    now = now or timezone.now()
    throttles, _ = (
        SignInThrottle.objects.filter(last_failure_at__lt=now - timedelta(days=1))
        .exclude(blocked_until__gt=now)
        .delete()
    )
    tokens, _ = AccountToken.objects.filter(expires_at__lt=now - timedelta(days=30)).delete()
    return {"throttles": throttles, "tokens": tokens}
