"""Encryption of secrets at rest (retained passwords, MSAL token caches).

MultiFernet over `FIELD_ENCRYPTION_KEYS`: the first key encrypts, every key decrypts,
so keys rotate by putting a new one first and re-encrypting (`rotate`)."""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["InvalidToken", "decrypt", "encrypt", "rotate"]


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty")
    try:
        return MultiFernet([Fernet(key.strip()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must hold url-safe base64 Fernet keys of 32 bytes"
        ) from exc


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    return _current().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """Re-encrypt with the first key; the plaintext never leaves this function."""
    return _current().rotate(token.encode()).decode()
