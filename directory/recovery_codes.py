"""One-time recovery codes, kept as django-otp `StaticToken`s of a `StaticDevice` (so a
code signs in like any other factor, `django_otp.login`), but never in clear: a token
holds an HMAC of its code (`recovery_code_hash`, keyed with SECRET_KEY), so reading the
database reveals no code. Each code is 80 random bits, shown once when it is made; using
one deletes it, and the device's throttle slows down wrong guesses as django-otp's own
verification does. A key in SECRET_KEY_FALLBACKS still opens the codes hashed with it,
so rotating SECRET_KEY the way Django documents keeps them working."""

import secrets
from base64 import b32encode

from django.conf import settings
from django.utils.crypto import salted_hmac
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from .models import User

RECOVERY_CODE_COUNT = 10
RECOVERY_NAME = "Recovery codes"
SALT = "stratus.recovery-code"  # also in directory/migrations/0013 (hashing older codes)


def recovery_code_hash(code: str, *, secret: str | None = None) -> str:
    """What is stored for a code: 16 hex characters (StaticToken.token's length) of an
    HMAC-SHA256 of the code as typed without spaces or dashes, in lower case."""
    normal = (code or "").replace(" ", "").replace("-", "").lower()
    return salted_hmac(SALT, normal, secret=secret, algorithm="sha256").hexdigest()[:16]


def recovery_codes_replace(user: User) -> list[str]:
    """A fresh set of codes (returned to be shown once); the old ones stop working."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [_new_code() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(
        StaticToken(device=device, token=recovery_code_hash(code)) for code in codes
    )
    return codes


def recovery_code_use(device: StaticDevice, code: str) -> bool:
    """Whether `code` is one of the device's unused codes; if so it is used up. Called
    with the device locked (select_for_update). django-otp's `verify_token`, comparing
    hashes instead of codes."""
    allowed, _ = device.verify_is_allowed()
    if not allowed or not code.strip():
        return False
    secrets_in_use = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    hashes = {recovery_code_hash(code, secret=secret) for secret in secrets_in_use}
    match = device.token_set.filter(token__in=hashes).first()
    if match is None:
        device.throttle_increment()
        return False
    match.delete()
    device.throttle_reset(commit=False)
    device.set_last_used_timestamp(commit=False)
    device.save()
    return True


def recovery_codes_left(*, user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def _new_code() -> str:
    raw = b32encode(secrets.token_bytes(10)).decode().lower()  # 16 characters
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))
