"""Self-service sign-up that reveals nothing and cannot be flooded.

Whatever email is typed, the person sees the same answer: "check your inbox". A new
address gets an organization whose owner is staged and the usual activation email
(choosing the password there also proves the mailbox is theirs); an address that
already has an account gets an email saying so, with the way to sign in or reset the
password. So sign-up cannot be used to learn who has an account, and nobody can create
an organization in someone else's name and sign in to it.

Each client address (`lifecycle.client_address`) may ask `SIGNUP_RATE_LIMIT` times per
`SIGNUP_RATE_WINDOW_SECONDS`; the count lives in the database (a `SignInThrottle` row
under its own `signup` scope), so every web process shares it.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.services import event_record

from . import emails, services
from .addresses import email_canonical
from .errors import Conflict, ServiceError
from .models import SignInThrottle, User

SCOPE = "signup"
EXISTING_EMAIL = "signup_existing"


class SignupThrottled(ServiceError):
    code = "throttled"
    status = 429

    def __init__(self, retry_at: datetime):
        minutes = max(1, round((retry_at - timezone.now()).total_seconds() / 60))
        super().__init__(
            f"Too many sign-ups from your network. Try again in {minutes} minute"
            f"{'s' if minutes != 1 else ''}."
        )
        self.retry_at = retry_at


def signup_request(
    *, name: str, email: str, address: str, first_name: str = "", last_name: str = ""
) -> None:
    """Start a sign-up, or tell the address's owner they already have an account. The
    caller learns nothing about which happened. Raises `SignupThrottled` when this
    client address asked too often, and `InvalidInput` for a missing name or a bad
    email, alike for every address."""
    retry_at = _signup_count(address=address)
    if retry_at is not None:
        raise SignupThrottled(retry_at)
    try:
        services.organization_signup(
            name=name, email=email, password=None, first_name=first_name, last_name=last_name
        )
    except Conflict as error:
        if error.code != "email_taken":
            raise
        _existing_account_notify(email=email, address=address)


@transaction.atomic
def _signup_count(*, address: str) -> datetime | None:
    """Count one sign-up from `address` in its fixed window; when the window is full,
    return when the next one may be made instead."""
    now = timezone.now()
    window = timedelta(seconds=settings.SIGNUP_RATE_WINDOW_SECONDS)
    row, _ = SignInThrottle.objects.select_for_update().get_or_create(
        key=SignInThrottle.key_for(SCOPE, address or "unknown")
    )
    if row.last_failure_at is None or row.last_failure_at <= now - window:
        row.failures, row.last_failure_at = 0, now  # a new window starts
    if row.failures >= settings.SIGNUP_RATE_LIMIT:
        row.blocked_until = row.last_failure_at + window
        row.save(update_fields=["blocked_until"])
        return row.blocked_until
    row.failures += 1
    row.save(update_fields=["failures", "last_failure_at"])
    return None


@transaction.atomic
def _existing_account_notify(*, email: str, address: str) -> None:
    user = (
        User.objects.select_related("organization")
        .filter(email__iexact=email_canonical(email))
        .first()
    )
    if user is None:  # deleted in between: nothing to tell anyone
        return
    if user.organization is not None:
        event_record(
            organization=user.organization,
            type="signup_existing_email",
            target=user,
            details={"address": address},
        )
    _existing_account_email(user)


def _existing_account_email(user: User) -> None:
    """Queued like every email (`emails.email_queue`: durable, retried by a worker)."""
    base = settings.BASE_URL.rstrip("/")
    context = {
        "user": user,
        "organization": user.organization,
        "sign_in_url": base + reverse("console:login"),
        "forgot_url": base + reverse("portal:forgot"),
        "portal_url": base + reverse("portal:home"),
    }
    emails.email_queue(
        organization=user.organization,
        to=user.email,
        user=user,
        kind=EXISTING_EMAIL,
        subject=render_to_string(f"emails/{EXISTING_EMAIL}_subject.txt", context),
        text=render_to_string(f"emails/{EXISTING_EMAIL}.txt", context),
        html=render_to_string(f"emails/{EXISTING_EMAIL}.html", context),
    )
