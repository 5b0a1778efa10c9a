"""WebAuthn passkeys as a second factor, on py_webauthn (the `webauthn` package).

Two ceremonies, each in two steps: the server makes options with a fresh challenge (kept
in the session, used once), the browser asks the authenticator, and the server checks the
answer against the challenge, this site's origin and relying-party id, and, at sign-in,
the stored public key and signature counter. A passkey is a `PasskeyDevice` (a django-otp
device), so a successful sign-in with it marks the session verified like an app code.

The relying party is the host the person is on (`WEBAUTHN_RP_ID` overrides it for a
deployment served under several names)."""

import json

import django_otp
import webauthn
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from . import mfa
from .errors import InvalidInput
from .models import PasskeyDevice, User

REGISTER, SIGN_IN, PASSWORDLESS = "register", "sign_in", "passwordless"
SESSION_KEY = "stratus_webauthn_challenge"
REFUSED = "The passkey was not accepted. Try again, or use a code from your app."


def relying_party(request) -> tuple[str, str]:
    """(rp id, origin) for this request: the host the browser is on."""
    host = request.get_host()
    rp_id = getattr(settings, "WEBAUTHN_RP_ID", "") or host.rsplit(":", 1)[0]
    return rp_id, f"{request.scheme}://{host}"


def _descriptors(user: User) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(id=bytes(device.credential_id))
        for device in PasskeyDevice.objects.filter(user=user, confirmed=True)
    ]


def _challenge_keep(request, ceremony: str, challenge: bytes) -> None:
    request.session[SESSION_KEY] = {"for": ceremony, "challenge": bytes_to_base64url(challenge)}


def _challenge_take(request, ceremony: str) -> bytes:
    """The challenge of this ceremony, removed from the session: each is used once."""
    kept = request.session.pop(SESSION_KEY, None) or {}
    if kept.get("for") != ceremony:
        raise InvalidInput.for_field("credential", "Start again: the request has expired.")
    return webauthn.base64url_to_bytes(kept["challenge"])


def registration_options(*, request) -> str:
    """Options for `navigator.credentials.create`, as JSON."""
    user = request.user
    rp_id, _ = relying_party(request)
    options = webauthn.generate_registration_options(
        rp_id=rp_id,
        rp_name="Stratus",
        user_id=str(user.pk).encode(),
        user_name=user.email,
        user_display_name=user.name,
        exclude_credentials=_descriptors(user),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    _challenge_keep(request, REGISTER, options.challenge)
    return webauthn.options_to_json(options)


@transaction.atomic
def registration_finish(*, request, credential: str, name: str = "") -> list[str]:
    """Check the authenticator's answer and keep the passkey. Returns the recovery codes
    made now (when the person had none), to be shown once."""
    user = request.user
    rp_id, origin = relying_party(request)
    challenge = _challenge_take(request, REGISTER)
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError, IndexError):
        raise InvalidInput.for_field("credential", REFUSED) from None
    if PasskeyDevice.objects.filter(credential_id=verified.credential_id).exists():
        raise InvalidInput.for_field("credential", "This passkey is already registered.")
    device = PasskeyDevice.objects.create(
        user=user,
        name=(name or "Passkey").strip()[:64] or "Passkey",
        confirmed=True,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=_transports(credential),
    )
    codes = mfa.factor_added(user=user, method=mfa.PASSKEY)
    django_otp.login(request, device)
    return codes


def _transports(credential: str) -> list[str]:
    try:
        transports = json.loads(credential).get("response", {}).get("transports", [])
    except (ValueError, AttributeError):
        return []
    return [t for t in transports if isinstance(t, str)][:8]


def authentication_options(*, request) -> str:
    """Options for `navigator.credentials.get` with the person's passkeys, as JSON."""
    rp_id, _ = relying_party(request)
    options = webauthn.generate_authentication_options(
        rp_id=rp_id,
        allow_credentials=_descriptors(request.user),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    _challenge_keep(request, SIGN_IN, options.challenge)
    return webauthn.options_to_json(options)


def authentication_finish(*, request, credential: str) -> PasskeyDevice:
    """Check a passkey's signature for the signed-in person and mark the session verified.
    A signature counter that did not move forward (a cloned key) is refused."""
    user = request.user
    rp_id, origin = relying_party(request)
    challenge = _challenge_take(request, SIGN_IN)
    device = _device_of(user, credential)
    verified = None
    if device is not None:
        try:
            verified = webauthn.verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=rp_id,
                expected_origin=origin,
                credential_public_key=bytes(device.public_key),
                credential_current_sign_count=device.sign_count,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError, IndexError):
            verified = None
    mfa.verification_record(user=user, method=mfa.PASSKEY, ok=verified is not None)
    if verified is None:
        raise InvalidInput.for_field("credential", REFUSED)
    device.sign_count = verified.new_sign_count
    device.last_used_at = timezone.now()
    device.save(update_fields=["sign_count", "last_used_at"])
    django_otp.login(request, device)
    return device


def passwordless_options(*, request) -> str:
    """Options for signing in with a passkey alone (no email typed): the authenticator
    offers the passkeys it holds for this site."""
    rp_id, _ = relying_party(request)
    options = webauthn.generate_authentication_options(
        rp_id=rp_id, user_verification=UserVerificationRequirement.REQUIRED
    )
    _challenge_keep(request, PASSWORDLESS, options.challenge)
    return webauthn.options_to_json(options)


def passwordless_finish(*, request, credential: str) -> PasskeyDevice:
    """Find whose passkey answered and check its signature, with user verification (the
    device's PIN or biometric): the passkey is then both factors. An account lock-out
    does not stop it (a stranger's wrong passwords prove nothing against a signature);
    an account that is not active cannot sign in."""
    rp_id, origin = relying_party(request)
    challenge = _challenge_take(request, PASSWORDLESS)
    device = _device_by_credential(credential)
    verified = None
    if device is not None and device.user.is_active and device.user.organization_id:
        try:
            verified = webauthn.verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=rp_id,
                expected_origin=origin,
                credential_public_key=bytes(device.public_key),
                credential_current_sign_count=device.sign_count,
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError, IndexError):
            verified = None
    if device is not None:
        mfa.verification_record(user=device.user, method=mfa.PASSKEY, ok=verified is not None)
    if verified is None:
        raise InvalidInput.for_field("credential", REFUSED)
    device.sign_count = verified.new_sign_count
    device.last_used_at = timezone.now()
    device.save(update_fields=["sign_count", "last_used_at"])
    return device


def _device_by_credential(credential: str) -> PasskeyDevice | None:
    try:
        raw_id = webauthn.base64url_to_bytes(json.loads(credential)["rawId"])
    except (ValueError, KeyError, TypeError):
        return None
    return (
        PasskeyDevice.objects.select_related("user__organization")
        .filter(confirmed=True, credential_id=raw_id)
        .first()
    )


def _device_of(user: User, credential: str) -> PasskeyDevice | None:
    try:
        raw_id = webauthn.base64url_to_bytes(json.loads(credential)["rawId"])
    except (ValueError, KeyError, TypeError):
        return None
    return PasskeyDevice.objects.filter(user=user, confirmed=True, credential_id=raw_id).first()


def passkey_list(*, user: User):
    return PasskeyDevice.objects.filter(user=user, confirmed=True).order_by("created_at")
