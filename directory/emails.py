"""The emails a person receives and the links in them (DESIGN P9): activation and reset
links, the messages that carry them, and the one path every email takes out.

An email is rendered in the caller's transaction and logged as a `SentEmail` whose
`payload` keeps the rendered bodies, encrypted, until the email is sent. It leaves only
after that transaction commits, on a Celery worker (`workers.tasks.email_deliver`,
retried with backoff while the mail server fails), so a slow or failing mail server
never slows or breaks the console. `EMAIL_DELIVERY = "inline"` sends from the
committing process instead, once (tests, and installs without a worker). A beat
sweep re-queues emails whose task was lost.

`directory.services` uses this module and `directory.lifecycle` builds on it; it
imports neither.
"""

import json
import logging
import secrets
from datetime import datetime, timedelta

from celery import current_app
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.services import event_record

from . import encryption
from .errors import InvalidInput, NotAllowed
from .models import AccountToken, Organization, SentEmail, User

log = logging.getLogger(__name__)

DELIVER_TASK = "workers.tasks.email_deliver"
INLINE, WORKER = "inline", "worker"
MAX_ATTEMPTS = 6  # the first try and five retries: 10 s, 20 s, 40 s, 80 s, 160 s
RETRY_FIRST_WAIT_SECONDS = 10
RETRY_MAX_WAIT_SECONDS = 600
LOST_AFTER = timedelta(seconds=30)  # a queued email not tried by then lost its task
SWEEP_BATCH = 500


# --- links (activation and reset) ----------------------------------------------------


def _token_lifetime(purpose: str) -> timedelta:
    if purpose == AccountToken.RESET:
        return timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    return timedelta(seconds=settings.ACTIVATION_TIMEOUT)


def _token_issue(*, user: User, purpose: str) -> tuple[str, AccountToken]:
    """A new link secret; earlier unused links of the same purpose stop working."""
    now = timezone.now()
    AccountToken.objects.filter(
        user=user, purpose=purpose, used_at__isnull=True, expires_at__gt=now
    ).update(expires_at=now)
    lookup = secrets.token_hex(8)
    token = f"{lookup}.{secrets.token_urlsafe(32)}"
    row = AccountToken.objects.create(
        user=user,
        purpose=purpose,
        lookup=lookup,
        token_hash=AccountToken.hash_token(token),
        created_at=now,
        expires_at=now + _token_lifetime(purpose),
    )
    return token, row


def _link(name: str, token: str) -> str:
    return _url(reverse(name, kwargs={"token": token}))


def _url(path: str) -> str:
    return settings.BASE_URL.rstrip("/") + path


# --- the one path out ------------------------------------------------------------------


def email_queue(
    *,
    organization: Organization | None,
    to: str,
    kind: str,
    subject: str,
    text: str,
    html: str | None = None,
    user: User | None = None,
    dedupe_key: str = "",
) -> SentEmail | None:
    """Log an email and send it after the current transaction commits, retried until
    the mail server takes it. Bridges use this for notices to admins. With a
    `dedupe_key` already used for this user (or, without a user, this address), nothing
    is queued and None is returned."""
    _check_email(to=to, kind=kind, subject=subject, text=text)
    payload = encryption.encrypt(json.dumps({"text": text, "html": html}))
    record = SentEmail(
        organization=organization,
        user=user,
        to=to.strip(),
        kind=kind,
        subject=" ".join(subject.split())[:255],
        dedupe_key=dedupe_key,
        payload=payload,
    )
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        return None
    sent_email_id = record.pk
    transaction.on_commit(lambda: _deliver_later(sent_email_id))
    return record


def _check_email(*, to: str, kind: str, subject: str, text: str) -> None:
    fields = {}
    try:
        validate_email((to or "").strip())
    except ValidationError:
        fields["to"] = ["Enter a valid email address."]
    if not kind or len(kind) > 32:
        fields["kind"] = ["Name the kind of email in 1 to 32 characters."]
    if not (subject or "").strip():
        fields["subject"] = ["An email needs a subject."]
    if not (text or "").strip():
        fields["text"] = ["An email needs a plain-text body."]
    if fields:
        raise InvalidInput("The email cannot be sent.", fields=fields)


def admins_email_queue(
    *, organization: Organization, kind: str, subject: str, text: str, html: str | None = None
) -> list[SentEmail]:
    """`email_queue` to every active admin and owner of the organization, one email each."""
    admins = User.objects.for_organization(organization).filter(
        role__in=[User.ADMIN, User.OWNER], status=User.ACTIVE
    )
    queued = [
        email_queue(
            organization=organization,
            to=admin.email,
            kind=kind,
            subject=subject,
            text=text,
            html=html,
            user=admin,
        )
        for admin in admins
    ]
    return [record for record in queued if record is not None]


def _user_email_queue(
    *, user: User, kind: str, context: dict, dedupe_key: str = ""
) -> SentEmail | None:
    """Render `templates/emails/<kind>*` for this user and queue the result."""
    context = {
        "user": user,
        "organization": user.organization,
        "base_url": settings.BASE_URL,
        "portal_url": _url(reverse("portal:home")),
        **context,
    }
    return email_queue(
        organization=user.organization,
        to=user.email,
        kind=kind,
        subject=render_to_string(f"emails/{kind}_subject.txt", context),
        text=render_to_string(f"emails/{kind}.txt", context),
        html=render_to_string(f"emails/{kind}.html", context),
        user=user,
        dedupe_key=dedupe_key,
    )


def _deliver_later(sent_email_id: int) -> None:
    if settings.EMAIL_DELIVERY == INLINE:
        email_deliver(sent_email_id=sent_email_id)
        return
    app = current_app
    try:
        if app.conf.task_always_eager:  # development without a worker: run it here
            app.loader.import_default_modules()
            app.tasks[DELIVER_TASK].apply(args=[sent_email_id])
        else:  # by name: the directory does not import workers
            app.send_task(DELIVER_TASK, args=[sent_email_id])
    except Exception as exc:  # noqa: BLE001 — broker down: the row is kept, the sweep resends
        log.warning(
            "could not queue email %s (%s); the sweep will retry",
            sent_email_id,
            type(exc).__name__,
        )


# --- delivery (the worker's side) -------------------------------------------------------


def email_deliver(*, sent_email_id: int) -> float | None:
    """Try to send one logged email. Returns the seconds to wait before the next try
    when the mail server failed and tries are left; otherwise None (sent, given up on,
    or nothing to do). Safe to run twice at once: the row is locked while it is sent,
    and a second run finds it sent or locked and does nothing."""
    with transaction.atomic():
        record = (
            SentEmail.objects.select_for_update(skip_locked=True)
            .filter(pk=sent_email_id, sent_at__isnull=True)
            .exclude(payload="")
            .first()
        )
        if record is None:
            return None
        try:
            _smtp_send(record)
        except Exception as exc:  # noqa: BLE001 — a mail server's failure is shown, not raised
            return _record_failure(record, exc)
        SentEmail.objects.filter(pk=record.pk).update(
            sent_at=timezone.now(), payload="", attempts=record.attempts + 1
        )
    return None


def _smtp_send(record: SentEmail) -> None:
    bodies = json.loads(encryption.decrypt(record.payload))
    message = EmailMultiAlternatives(
        record.subject, bodies["text"], settings.DEFAULT_FROM_EMAIL, [record.to]
    )
    if bodies.get("html"):
        message.attach_alternative(bodies["html"], "text/html")
    message.send()


def _record_failure(record: SentEmail, exc: Exception) -> float | None:
    attempts = record.attempts + 1
    error = f"{type(exc).__name__}: {exc}"[:500]
    allowed = 1 if settings.EMAIL_DELIVERY == INLINE else MAX_ATTEMPTS
    wait = None
    if attempts < allowed:
        wait = get_exponential_backoff_interval(
            factor=RETRY_FIRST_WAIT_SECONDS, retries=attempts - 1, maximum=RETRY_MAX_WAIT_SECONDS
        )
    changes = {"attempts": attempts, "error": error}
    if wait is None:  # given up: nothing will send it now, so its links leave the database
        changes["payload"] = ""
    else:  # the sweep leaves it alone while the retry is waiting
        changes["due_at"] = timezone.now() + timedelta(seconds=wait)
    SentEmail.objects.filter(pk=record.pk).update(**changes)
    log.warning(
        "email %s (%s) try %s failed%s: %s",
        record.pk,
        record.kind,
        attempts,
        f", retrying in {wait}s" if wait is not None else ", giving up",
        error,
    )
    return wait


def email_sweep(*, now: datetime | None = None) -> list[int]:
    """The beat job: queue again the emails still to deliver whose task was lost (a
    dead worker, a broker that was down or flushed). Returns their ids."""
    now = now or timezone.now()
    lost = list(
        SentEmail.objects.filter(sent_at__isnull=True, due_at__lt=now - LOST_AFTER)
        .exclude(payload="")
        .order_by("due_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    if not lost:
        return []
    SentEmail.objects.filter(pk__in=lost).update(due_at=now)
    for sent_email_id in lost:
        _deliver_later(sent_email_id)
    return lost


# --- the emails ---------------------------------------------------------------------------


@transaction.atomic
def activation_send(*, actor: User | None, user: User) -> SentEmail:
    """Email a staged user the welcome message with a link to set their first password.
    Sending again makes the earlier link stop working."""
    if user.status != User.STAGED:
        raise NotAllowed(
            "This account is already activated (or suspended); send a password reset link instead.",
            code="not_staged",
        )
    token, row = _token_issue(user=user, purpose=AccountToken.ACTIVATION)
    record = _user_email_queue(
        user=user,
        kind=SentEmail.ACTIVATION,
        context={
            "link": _link("portal:activate", token),
            "expires_at": row.expires_at,
            "inviter": actor,
        },
    )
    event_record(
        organization=user.organization,
        type="user_activation_send",
        actor=actor,
        target=user,
        details={"expires_at": row.expires_at.isoformat()},
    )
    return record


def activation_send_after_create(*, user_id: int, actor_id: int | None) -> None:
    """Run after `user_create` commits: welcome the user if they still need a password."""
    user = User.objects.select_related("organization").filter(pk=user_id).first()
    if user is None or user.organization_id is None or user.status != User.STAGED:
        return
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    activation_send(actor=actor, user=user)


@transaction.atomic
def password_reset_send(*, actor: User | None, user: User) -> SentEmail:
    """Email an active user a single-use link to choose a new password."""
    if user.status != User.ACTIVE:
        raise NotAllowed(
            "Only an active account can reset its password; a staged one "
            "gets an activation email instead.",
            code="not_active",
        )
    token, row = _token_issue(user=user, purpose=AccountToken.RESET)
    record = _user_email_queue(
        user=user,
        kind=SentEmail.RESET,
        context={
            "link": _link("portal:reset", token),
            "expires_at": row.expires_at,
            "minutes": max(1, round(_token_lifetime(AccountToken.RESET).total_seconds() / 60)),
            "requested_by_admin": actor is not None and actor.pk != user.pk,
        },
    )
    event_record(
        organization=user.organization,
        type="user_password_reset_send",
        actor=actor,
        target=user,
        details={"expires_at": row.expires_at.isoformat()},
    )
    return record


def mfa_reset_notify(*, actor: User | None, user: User) -> SentEmail | None:
    """Tell a member that an owner removed their second factors (directory.mfa), so a
    reset they did not ask for is noticed."""
    return _user_email_queue(
        user=user,
        kind=SentEmail.MFA_RESET,
        context={"actor": actor, "reset_at": timezone.now()},
    )


def password_changed_notify(*, user_id: int, source: str) -> None:
    """Tell the user their password changed, so they notice a change they did not make.
    `services.user_set_password` calls this after commit."""
    user = User.objects.select_related("organization").filter(pk=user_id).first()
    if user is None or user.organization_id is None:
        return
    _user_email_queue(
        user=user,
        kind=SentEmail.PASSWORD_CHANGED,
        context={
            "source": source,
            "changed_at": user.password_changed_at,
            "forgot_url": _url(reverse("portal:forgot")),
        },
    )


def expiry_warning_send(
    *, user: User, days: int, days_left: int, expires_at: datetime
) -> SentEmail | None:
    """Warn a user that their password expires in `days` days; once per password and
    warning (None when this one already went out)."""
    return _user_email_queue(
        user=user,
        kind=SentEmail.EXPIRY_WARNING,
        dedupe_key=f"expiry:{int(user.password_changed_at.timestamp())}:{days}",
        context={
            "days": days,
            "days_left": days_left,
            "expires_at": expires_at,
            "change_url": _url(reverse("portal:password_change")),
        },
    )
