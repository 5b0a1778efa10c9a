"""Multi-factor authentication for the console and the portal, on django-otp.

A person's factors are django-otp devices: a `TOTPDevice` (an authenticator app; django-otp
refuses a code already used, through the device's last accepted time step, and slows down
wrong guesses) and a `StaticDevice` holding one-time recovery codes (each is deleted when
used, and stored only as a hash: directory.recovery_codes). A session has passed its
second factor when `django_otp.login` recorded the device in it;
`request.user.is_verified()` (django-otp's middleware) says so.

The organization's policy says who must have a factor (`mfa_required`). `mfa_step` is the
one answer to "what must this signed-in person do before anything else": verify their
factor, enrol one, or nothing. The console's `console_view`, the portal's
`portal_user_required` and the API's permission all ask it."""

import base64
from dataclasses import dataclass

import django_otp
import segno
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import Event
from audit.services import event_record

from . import emails
from .errors import InvalidInput, NotAllowed
from .models import Organization, PasskeyDevice, User
from .recovery_codes import (
    recovery_code_use,
    recovery_codes_left,
    recovery_codes_replace,
)

VERIFY, ENROL = "verify", "enrol"
TOTP, RECOVERY_CODE, PASSKEY = "totp", "recovery_code", "passkey"
APP_NAME = "Authenticator app"
CODE_REFUSED = "This code is not right, was already used, or came too late. Try the next one."


def mfa_required(user: User) -> bool:
    """Whether the organization's policy asks this person for a second factor."""
    organization = user.organization
    if organization is None:
        return False
    if organization.mfa_required_for_everyone:
        return True
    return organization.mfa_required_for_admins and user.has_console_access


def user_has_factor(user: User) -> bool:
    return user.mfa_enrolled_at is not None


def mfa_step(request) -> str | None:
    """VERIFY when the person has a factor this session has not passed, ENROL when the
    policy asks for a factor they do not have yet, None when they may go on."""
    user = request.user
    if getattr(user, "is_verified", None) and user.is_verified():
        return None
    if user_has_factor(user):
        return VERIFY
    return ENROL if mfa_required(user) else None


def session_verified_by(request, device) -> None:
    """Record in the session that this device just proved the person (django-otp)."""
    django_otp.login(request, device)


def session_is_verified(request) -> bool:
    user = request.user
    return bool(getattr(user, "is_verified", None) and user.is_verified())


# --- enrolment ---------------------------------------------------------------------------


def totp_enrolment(*, user: User) -> TOTPDevice:
    """The authenticator app being set up: the unconfirmed device kept across page loads
    (so the QR code does not change under the person's phone), made when there is none."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=APP_NAME, confirmed=False)
    return device


def totp_qr_svg(device: TOTPDevice) -> str:
    """The device's otpauth:// address as an inline SVG QR code (no script, no image URL,
    so the strict Content-Security-Policy stays as it is)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=5)


def totp_secret_text(device: TOTPDevice) -> str:
    """The secret in base32, grouped by four, for typing into an app by hand."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@dataclass
class Enrolled:
    device: TOTPDevice
    recovery_codes: list[str]


@transaction.atomic
def totp_enrol_confirm(*, user: User, code: str) -> Enrolled:
    """Confirm the app being set up with a code it shows. The person gets a fresh set of
    recovery codes (shown once), and any app set up before is replaced: one app at a
    time, so a lost phone's app does not keep working."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).last()
    if device is None:
        raise InvalidInput.for_field("code", "Start the set-up again: it has expired.")
    if not _code_shape_ok(code) or not device.verify_token(_digits(code)):
        raise InvalidInput.for_field("code", CODE_REFUSED)
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    user.mfa_enrolled_at = timezone.now()
    user.save(update_fields=["mfa_enrolled_at"])
    codes = recovery_codes_replace(user)
    event_record(
        organization=user.organization,
        type="mfa_enrol",
        actor=user,
        target=user,
        details={"method": TOTP, "recovery_codes": len(codes)},
    )
    return Enrolled(device=device, recovery_codes=codes)


def factor_added(*, user: User, method: str) -> list[str]:
    """After a passkey is registered (directory.passkeys): the person now has a factor;
    recovery codes are made if they had none (returned to be shown once, else [])."""
    first = user.mfa_enrolled_at is None
    if first:
        user.mfa_enrolled_at = timezone.now()
        user.save(update_fields=["mfa_enrolled_at"])
    codes = recovery_codes_replace(user) if recovery_codes_left(user=user) == 0 else []
    event_record(
        organization=user.organization,
        type="mfa_enrol",
        actor=user,
        target=user,
        details={"method": method, "recovery_codes": len(codes)},
    )
    return codes


@transaction.atomic
def recovery_codes_regenerate(*, user: User) -> list[str]:
    """New recovery codes; the old ones stop working."""
    if not user_has_factor(user):
        raise NotAllowed("Set up an authenticator app first.", code="no_factor")
    codes = recovery_codes_replace(user)
    event_record(
        organization=user.organization,
        type="mfa_recovery_codes_regenerate",
        actor=user,
        target=user,
        details={"recovery_codes": len(codes)},
    )
    return codes


# --- verification at sign-in -------------------------------------------------------------


def mfa_verify(*, request, code: str) -> str:
    """Check a code from the app, or a recovery code, for the signed-in person and mark
    the session as verified. Returns the method used; raises InvalidInput otherwise.
    Every attempt is an event (the method, and whether it worked)."""
    user = request.user
    code = (code or "").strip()
    device, method = _matching_device(user, code)
    verification_record(user=user, method=method, ok=device is not None)
    if device is None:
        raise InvalidInput.for_field("code", CODE_REFUSED)
    django_otp.login(request, device)
    return method


def verification_record(*, user: User, method: str, ok: bool) -> None:
    """The `mfa_verify` event of one attempt: the method, and whether it worked."""
    event_record(
        organization=user.organization,
        type="mfa_verify",
        actor=user,
        target=user,
        outcome=Event.SUCCESS if ok else Event.FAILURE,
        details={"method": method, "recovery_codes_left": recovery_codes_left(user=user)},
    )


def _matching_device(user: User, code: str):
    """The device that accepts this code: an app for six digits, else the recovery codes.
    django-otp's devices refuse replays and throttle failures themselves."""
    if _code_shape_ok(code):
        with transaction.atomic():
            for device in TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True):
                if device.verify_token(_digits(code)):
                    return device, TOTP
        return None, TOTP
    with transaction.atomic():
        for device in StaticDevice.objects.select_for_update().filter(user=user, confirmed=True):
            if recovery_code_use(device, code):
                return device, RECOVERY_CODE
    return None, RECOVERY_CODE


def looks_like_app_code(text: str) -> bool:
    """Six digits (spaces allowed): what an authenticator app shows."""
    return _code_shape_ok(text)


def _code_shape_ok(code: str) -> bool:
    digits = _digits(code)
    return len(digits) == 6 and digits.isdigit()


def _digits(code: str) -> str:
    return (code or "").replace(" ", "").replace("-", "")


# --- owners and policy ---------------------------------------------------------------------


@transaction.atomic
def mfa_reset(*, actor: User, user: User) -> None:
    """An owner removes another member's factors and recovery codes (a lost phone). The
    member enrols again at their next sign-in, and is told by email."""
    if actor.role != User.OWNER or actor.organization_id != user.organization_id:
        raise NotAllowed("Only an owner can reset another member's second factors.")
    if actor.pk == user.pk:
        raise NotAllowed(
            "You cannot reset your own factors here: use a recovery code, or ask another owner.",
            code="own_factors",
        )
    removed = _devices_delete(user)
    user.mfa_enrolled_at = None
    user.save(update_fields=["mfa_enrolled_at"])
    event_record(
        organization=user.organization,
        type="mfa_reset",
        actor=actor,
        target=user,
        details={"factors_removed": removed},
    )
    emails.mfa_reset_notify(actor=actor, user=user)


@transaction.atomic
def mfa_reset_by_operator(*, user: User) -> None:
    """The last way back, for someone with no factor, no recovery code and no other owner
    to ask (`manage.py mfa_reset EMAIL`, run by the Stratus operator once they know who
    asks). Recorded with no actor ("system") and told to the person by email."""
    removed = _devices_delete(user)
    user.mfa_enrolled_at = None
    user.save(update_fields=["mfa_enrolled_at"])
    event_record(
        organization=user.organization,
        type="mfa_reset",
        target=user,
        details={"factors_removed": removed, "by": "operator"},
    )
    emails.mfa_reset_notify(actor=None, user=user)


def _devices_delete(user: User) -> int:
    removed, _ = TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    removed += PasskeyDevice.objects.filter(user=user).delete()[0]
    StaticDevice.objects.filter(user=user).delete()
    TOTPDevice.objects.filter(user=user).delete()
    return removed


@transaction.atomic
def mfa_policy_update(
    *,
    actor: User,
    organization: Organization,
    required_for_admins: bool,
    required_for_everyone: bool,
) -> Organization:
    """Who must have a second factor. Turning it on takes effect at each person's next
    page: they are led through enrolment before anything else."""
    if not isinstance(required_for_admins, bool) or not isinstance(required_for_everyone, bool):
        raise InvalidInput("The MFA policy is not valid.", fields={"policy": ["Yes or no."]})
    before = {
        "mfa_required_for_admins": organization.mfa_required_for_admins,
        "mfa_required_for_everyone": organization.mfa_required_for_everyone,
    }
    organization.mfa_required_for_admins = required_for_admins
    organization.mfa_required_for_everyone = required_for_everyone
    organization.save(update_fields=list(before))
    changed = {
        k: getattr(organization, k) for k, v in before.items() if getattr(organization, k) != v
    }
    if changed:
        event_record(
            organization=organization,
            type="organization_mfa_policy_update",
            actor=actor,
            target=organization,
            details=changed,
        )
    return organization
