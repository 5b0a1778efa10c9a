"""Every failure from Microsoft, mapped once into a handful of typed exceptions.

Each carries Microsoft's `code`, `message` and the `request-id` to quote to Microsoft
support. Only `Transient` (and its subclass `Throttled`) is worth retrying.
"""

from __future__ import annotations

from typing import Any


class GraphError(Exception):
    """A request to Microsoft failed. `str()` is safe to show and to log."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status: int | None = None,
        request_id: str = "",
        client_request_id: str = "",
        details: list | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.request_id = request_id
        self.client_request_id = client_request_id
        self.details = details or []

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"(code {self.code}")
            parts[-1] += f", request-id {self.request_id})" if self.request_id else ")"
        elif self.request_id:
            parts.append(f"(request-id {self.request_id})")
        return " ".join(parts)


class Transient(GraphError):
    """Network failure, time-out or a 5xx: try again later."""

    retryable = True


class Throttled(Transient):
    """429 (or 503/504 with Retry-After): Microsoft says when to come back."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class NotFound(GraphError):
    """404: the object does not exist (or not yet, after replication lag)."""


class Conflict(GraphError):
    """409, or a 400 that Microsoft uses for "already exists" (ObjectConflict)."""


class BadRequest(GraphError):
    """400 and other 4xx: Microsoft refused the request as sent; retrying won't help."""


class AuthorizationError(GraphError):
    """401/403: the token lacks a permission or a directory role."""


class NeedsReauthorization(GraphError):
    """The tenant's tokens no longer work (refresh token revoked, consent withdrawn,
    authorizing account blocked): an admin must connect it again."""


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: Microsoft sends integers and sometimes decimals."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0)


_CONFLICT_MESSAGES = ("already exist",)


def error_from_response(
    status: int, headers: Any, body: Any, *, client_request_id: str = ""
) -> GraphError:
    """Map one Graph response (a whole response or one `$batch` item) to an exception."""
    headers = {str(k).lower(): v for k, v in (headers or {}).items()}
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    inner = error.get("innerError") or error.get("innererror") or {}
    code = str(error.get("code") or "")
    message = str(error.get("message") or f"Microsoft Graph answered HTTP {status}.")
    request_id = str(headers.get("request-id") or inner.get("request-id") or "")
    kwargs = dict(
        code=code,
        status=status,
        request_id=request_id,
        client_request_id=client_request_id or str(inner.get("client-request-id") or ""),
        details=error.get("details") if isinstance(error.get("details"), list) else [],
    )
    if status == 429 or (status in (503, 504) and "retry-after" in headers):
        return Throttled(
            message, retry_after=parse_retry_after(headers.get("retry-after")), **kwargs
        )
    if status >= 500:
        return Transient(message, **kwargs)
    if _is_delta_expired(status, code):
        return DeltaExpired(message, **kwargs)
    if status in (401, 403):
        return AuthorizationError(message, **kwargs)
    if status == 404:
        return NotFound(message, **kwargs)
    if (
        status == 409
        or any(d.get("code") == "ObjectConflict" for d in kwargs["details"] if isinstance(d, dict))
        or (status == 400 and any(text in message for text in _CONFLICT_MESSAGES))
    ):
        return Conflict(message, **kwargs)
    return BadRequest(message, **kwargs)


class DeltaExpired(BadRequest):
    """The saved delta link is too old (7 days for directory objects): resync fully."""


def _is_delta_expired(status: int, code: str) -> bool:
    return status == 410 or code in {"syncStateNotFound", "resyncRequired"}
