"""Fixed-window request counters shared by every process: Redis (REDIS_URL) counts each
key's and each client address's requests to the REST API and SCIM in windows of
`API_RATE_WINDOW_SECONDS`, one round trip a counter (INCR and EXPIRE, pipelined).
Without REDIS_URL (development) the counts are per process, in Django's local cache.
Over the limit, callers answer 429 with `Retry-After` (the seconds left in the window).
If Redis cannot be reached the request is let through and a warning logged: an outage
of the counter must not take the API down with it."""

import hashlib
import logging
import math
import time

from django.conf import settings
from django.core.cache import cache

from .errors import ServiceError
from .redis_pool import redis_client, redis_errors

log = logging.getLogger(__name__)


class RateLimited(ServiceError):
    code = "throttled"
    status = 429

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def rate_count(*, scope: str, ident: str, limit: int, what: str) -> None:
    """Count one request of `ident` (a key id or an address) under `scope`; raise
    `RateLimited` when it is over `limit` in the current window. `what` names the
    caller in the message ("this API key", "your address")."""
    window = settings.API_RATE_WINDOW_SECONDS
    now = time.time()
    index = int(now // window)
    digest = hashlib.sha256(ident.encode()).hexdigest()[:24]
    name = f"ratelimit:{scope}:{digest}:{index}"
    try:
        count = _count(name, window)
    except redis_errors():
        log.warning("Redis is unreachable: the %s rate limit is not applied", scope)
        return
    if count > limit:
        retry_after = max(1, math.ceil((index + 1) * window - now))
        raise RateLimited(
            f"Too many requests from {what}: at most {limit:,} every {window} seconds. "
            f"Try again in {retry_after} seconds.",
            retry_after=retry_after,
        )


def _count(name: str, window: int) -> int:
    if settings.REDIS_URL:
        pipe = redis_client(settings.REDIS_URL).pipeline(transaction=False)
        pipe.incr(name)
        pipe.expire(name, window + 1)
        return pipe.execute()[0]
    try:
        return cache.incr(name)
    except ValueError:  # the window's first request in this process
        cache.set(name, 1, timeout=window + 1)
        return 1
