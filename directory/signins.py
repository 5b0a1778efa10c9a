"""Sign-in audit and sessions, for the console and the portal.

Every sign-in is a `sign_in` event of the person's organization: who, when (the event's
time), the client address, the browser's user agent, the second factor used ("none",
"totp", "recovery_code", "passkey") and the outcome. A sign-in with a factor is recorded
when the factor is passed (`sign_in_pending` / `sign_in_completed`); a wrong password
when it is typed. Failed sign-ins with emails that have no account are counted per
address and hour (`UnknownEmailSignInTally`), not one row each.

Each completed sign-in also keeps a `UserSession` (so people see where they are signed in
and sign the others out, and an owner can end all of someone's sessions) and remembers
the address as known (`KnownSignInAddress`), where an account lock-out does not apply."""

from importlib import import_module

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.models import Event
from audit.services import event_record

from . import mfa
from .addresses import email_canonical
from .errors import NotAllowed
from .lifecycle import client_address
from .models import KnownSignInAddress, UnknownEmailSignInTally, User, UserSession

PENDING_KEY = "stratus_sign_in_pending"
CONSOLE, PORTAL = "console", "portal"
NO_FACTOR = "none"


def _client(request) -> dict:
    return {
        "address": client_address(request)[:64],
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:256],
    }


def sign_in_failed(*, request, email: str, surface: str, reason: str) -> None:
    """A refused password (or a throttled attempt) for this email."""
    client = _client(request)
    user = (
        User.objects.select_related("organization")
        .filter(email__iexact=email_canonical(email or ""), organization__isnull=False)
        .first()
    )
    if user is None:
        _unknown_email_count(client["address"])
        return
    event_record(
        organization=user.organization,
        type="sign_in",
        target=user,
        outcome=Event.FAILURE,
        details={"surface": surface, "reason": reason, "mfa_method": "", **client},
    )


def _unknown_email_count(address: str) -> None:
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    with transaction.atomic():
        tally, _ = UnknownEmailSignInTally.objects.select_for_update().get_or_create(
            address=address, hour=hour
        )
        UnknownEmailSignInTally.objects.filter(pk=tally.pk).update(
            failures=F("failures") + 1, last_at=now
        )


def sign_in_succeeded(*, request, user: User, surface: str) -> None:
    """The password was right: the sign-in is complete now for someone without a factor,
    and when the factor is passed for someone with one (`factor_passed`)."""
    if mfa.user_has_factor(user):
        request.session[PENDING_KEY] = surface
    else:
        sign_in_completed(request=request, user=user, surface=surface, mfa_method=NO_FACTOR)


def sign_in_completed(*, request, user: User, surface: str, mfa_method: str) -> None:
    client = _client(request)
    if request.session.session_key is None:
        request.session.save()
    with transaction.atomic():
        event_record(
            organization=user.organization,
            type="sign_in",
            actor=user,
            target=user,
            details={"surface": surface, "mfa_method": mfa_method, **client},
        )
        KnownSignInAddress.objects.update_or_create(
            user=user, address=client["address"], defaults={"last_success_at": timezone.now()}
        )
        UserSession.objects.update_or_create(
            session_key=request.session.session_key,
            defaults={"user": user, "surface": surface, **client},
        )


def factor_passed(*, request, mfa_method: str) -> None:
    """After a code or a passkey: completes the sign-in that was waiting for it."""
    surface = request.session.pop(PENDING_KEY, None)
    if surface:
        sign_in_completed(
            request=request, user=request.user, surface=surface, mfa_method=mfa_method
        )


# --- sessions ------------------------------------------------------------------------------


def _store(session_key: str):
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)


def session_list(*, user: User) -> list[UserSession]:
    """The person's sessions that are still alive, newest first."""
    alive = []
    for row in UserSession.objects.filter(user=user):
        if _store(row.session_key).exists(row.session_key):
            alive.append(row)
        else:
            row.delete()
    return alive


def _end(rows) -> int:
    ended = 0
    for row in rows:
        _store(row.session_key).delete()
        row.delete()
        ended += 1
    return ended


def sessions_end_others(*, request) -> int:
    """Sign out every other session of the signed-in person."""
    user = request.user
    others = UserSession.objects.filter(user=user).exclude(session_key=request.session.session_key)
    ended = _end(list(others))
    event_record(
        organization=user.organization,
        type="sessions_end",
        actor=user,
        target=user,
        details={"sessions": ended, "kept_current": True},
    )
    return ended


def sessions_end_all(*, actor: User, user: User) -> int:
    """An owner signs someone out everywhere (a stolen laptop, someone leaving)."""
    if actor.role != User.OWNER or actor.organization_id != user.organization_id:
        raise NotAllowed("Only an owner can end another member's sessions.")
    ended = _end(list(UserSession.objects.filter(user=user)))
    event_record(
        organization=user.organization,
        type="sessions_end",
        actor=actor,
        target=user,
        details={"sessions": ended, "kept_current": False},
    )
    return ended


def _on_sign_out(sender, request, user, **kwargs):
    if request is not None and getattr(request, "session", None) is not None:
        UserSession.objects.filter(session_key=request.session.session_key).delete()


user_logged_out.connect(_on_sign_out, dispatch_uid="stratus_user_session_on_sign_out")
