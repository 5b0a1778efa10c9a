"""Rotating the encryption key (DESIGN K1) of what the bridge keeps encrypted: the
retained passwords of bindings and the tenants' MSAL token caches."""

from __future__ import annotations

from dataclasses import dataclass

from directory import encryption

from ..models import RetainedPassword, Tenant, UserBinding


@dataclass
class RotationResult:
    passwords: int = 0
    token_caches: int = 0
    unreadable: int = 0


def encryption_keys_rotate() -> RotationResult:
    """Re-encrypt every retained password and MSAL token cache with the first key of
    `FIELD_ENCRYPTION_KEYS`, so older keys can then be removed. Plaintexts never leave
    `directory.encryption`; safe to run while workers run, and to run again."""
    result = RotationResult()
    _rotate_column(UserBinding, "password_encrypted", result, "passwords")
    _rotate_column(RetainedPassword, "password_encrypted", result, "passwords")
    _rotate_column(Tenant, "token_cache_encrypted", result, "token_caches")
    return result


def _rotate_column(
    model, column: str, result: RotationResult, counter: str, batch: int = 500
) -> None:
    last = 0
    while True:
        rows = list(
            model.objects.filter(pk__gt=last)
            .exclude(**{column: ""})
            .order_by("pk")
            .values_list("pk", column)[:batch]
        )
        if not rows:
            return
        for pk, value in rows:
            last = pk
            try:
                rotated = encryption.rotate(value)
            except encryption.InvalidToken:
                result.unreadable += 1  # written with a key no longer configured
                continue
            # Only if unchanged meanwhile: a password set concurrently stays as written.
            if model.objects.filter(pk=pk, **{column: value}).update(**{column: rotated}):
                setattr(result, counter, getattr(result, counter) + 1)
