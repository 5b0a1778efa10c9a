"""Which API or SCIM key the current request acts through, so every event it records
names the key as well as its creator (DESIGN A3). Authentication sets it
(`acting_key_set`); `KeyContextMiddleware` clears it when the request ends, so a key
never carries over to the next request a thread serves."""

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class KeyRef:
    id: int
    label: str  # the key's name and public prefix, never its secret


_acting_key: ContextVar[KeyRef | None] = ContextVar("acting_key", default=None)


def acting_key_set(ref: KeyRef | None) -> None:
    _acting_key.set(ref)


def acting_key() -> KeyRef | None:
    return _acting_key.get()


class KeyContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _acting_key.set(None)
        try:
            return self.get_response(request)
        finally:
            _acting_key.reset(token)
