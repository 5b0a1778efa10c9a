"""Re-authentication for dangerous actions: connecting or deauthorizing a Microsoft 365
tenant, creating an API key, changing the password or MFA policy, deleting a user. Such a
change needs a check of the person (their password, a code from their app, or their
passkey) no older than `REAUTH_MAX_AGE`. Signing in is a check; so is the "confirm it is
you" page.

The time of the last check lives in the session, so it ends with the session."""

from datetime import timedelta

from django.contrib.auth.signals import user_logged_in
from django.utils import timezone

from . import lifecycle, mfa, passkeys
from .errors import InvalidInput

REAUTH_MAX_AGE = timedelta(minutes=5)
SESSION_KEY = "stratus_checked_at"
REFUSED = "This is not your password nor a current code from your app."


def check_recorded(request) -> None:
    request.session[SESSION_KEY] = timezone.now().timestamp()


def check_is_recent(request) -> bool:
    checked_at = request.session.get(SESSION_KEY)
    if not isinstance(checked_at, int | float):
        return False
    age = timezone.now().timestamp() - checked_at
    return 0 <= age <= REAUTH_MAX_AGE.total_seconds()


def reauthenticate(*, request, secret: str) -> str:
    """Check the signed-in person again with their password or a code from their app
    (through the sign-in throttle, so this page is no way around it). Returns the method;
    raises InvalidInput when neither matches."""
    user = request.user
    secret = secret or ""
    if mfa.user_has_factor(user) and mfa.looks_like_app_code(secret):
        try:
            mfa.mfa_verify(request=request, code=secret)
        except InvalidInput:
            raise InvalidInput.for_field("secret", REFUSED) from None
        check_recorded(request)
        return mfa.TOTP
    result = lifecycle.sign_in_attempt(
        email=user.email,
        password=secret,
        address=lifecycle.client_address(request),
        request=request,
    )
    if result.user is None or result.user.pk != user.pk:
        message = lifecycle.wait_message(result.retry_at) if result.refused else REFUSED
        raise InvalidInput.for_field("secret", message)
    check_recorded(request)
    return "password"


def reauthenticate_with_passkey(*, request, credential: str) -> str:
    """Check the signed-in person again with one of their passkeys: the answer to
    `passkeys.authentication_options` (a fresh challenge, used once), signed by a passkey
    of theirs. Raises InvalidInput (field `credential`) when it is not accepted."""
    passkeys.authentication_finish(request=request, credential=credential)
    check_recorded(request)
    return mfa.PASSKEY


def _on_sign_in(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        check_recorded(request)


user_logged_in.connect(_on_sign_in, dispatch_uid="stratus_reauth_on_sign_in")
