"""A per-tenant write budget shared by every worker process and machine.

Microsoft's identity service allows an application 3,000 writes per 2 min 30 s in one
tenant (graph-facts §5.2). Each worker process throttling itself (Celery's
`rate_limit`) would let ten workers send ten times that, so the budget is one token
bucket per tenant in Redis, updated atomically by a Lua script using Redis's clock.

The bucket holds at most 60 tokens and refills at (3,000 - 60) / 150 = 19.6 writes/s:
the fastest rate at which no 150-second window can carry more than 3,000 writes
(60 + 19.6 x 150). A slower refill leaves quota unused on every bulk bind (at 90 % a
5,000-user bind ran at 87 % of the quota-bound speed; at this rate 97 %, with no 429).
When responses report `x-ms-throttle-limit-percentage` (sent once 80 % of a limit is
used), the refill rate drops for a minute.

`time_scale` exists for graphsim, whose tenants can compress Microsoft's windows by a
factor (M365_GRAPH_TIME_SCALE): the budget then refills that much faster, so a scaled
run is the real run sped up. It is 1 against Microsoft.
"""

from __future__ import annotations

import logging
import threading
import time

from .errors import Throttled

log = logging.getLogger(__name__)

WRITE_QUOTA = 3000  # writes per application+tenant ...
WRITE_QUOTA_WINDOW = 150.0  # ... per 2 min 30 s
DEFAULT_CAPACITY = 60
DEFAULT_RATE = (WRITE_QUOTA - DEFAULT_CAPACITY) / WRITE_QUOTA_WINDOW
SLOWDOWN_SECONDS = 60

# Reserve `n` tokens; the bucket may go negative, and the caller waits until its
# reservation is covered. Returns the wait in seconds as a string (Lua numbers are
# truncated to integers on the way out). A wait beyond the cap reserves nothing.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1]) * tonumber(redis.call('GET', KEYS[2]) or '1')
local capacity = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens < n then wait = (n - tokens) / rate end
if wait <= max_wait then tokens = tokens - n end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(wait)
"""


def slowdown_factor(percentage: float) -> float:
    """How much of the normal rate to use when Microsoft reports `percentage` of a limit
    used (0.8 means 80 %; values above 2 are read as percents)."""
    if percentage > 2:
        percentage /= 100
    if percentage < 0.8:
        return 1.0
    return max(0.1, min(1.0, 0.8 / percentage - 0.3))


class WriteBudget:
    """`take(n)` blocks until n writes may be sent to the tenant, or raises `Throttled`."""

    def __init__(
        self,
        *,
        tenant_id: str,
        redis_url: str = "",
        rate: float = DEFAULT_RATE,
        capacity: int = DEFAULT_CAPACITY,
        max_wait: float = 120.0,
        sleep=time.sleep,
    ):
        self.tenant_id = tenant_id
        self.rate = rate
        self.capacity = capacity
        self.max_wait = max_wait
        self.sleep = sleep
        self.key = f"stratus:m365:write-budget:{tenant_id}"
        self.slow_key = f"{self.key}:slow"
        self._redis = None
        self._script = None
        if redis_url:
            self._redis = redis_client(redis_url)
            self._script = self._redis.register_script(_TAKE)
        else:
            log.warning("REDIS_URL is not set: the Graph write budget is per process only")
            self._local = _LocalBucket(rate, capacity)

    def take(self, n: int = 1) -> float:
        """Reserve n writes; returns how long it waited."""
        if n <= 0:
            return 0.0
        if self._script is not None:
            wait = float(
                self._script(
                    keys=[self.key, self.slow_key],
                    args=[self.rate, self.capacity, n, self.max_wait],
                )
            )
        else:
            wait = self._local.take(n, self.max_wait)
        if wait > self.max_wait:
            raise Throttled(
                f"The write budget of tenant {self.tenant_id} is exhausted; retry in {wait:.1f} s.",
                retry_after=wait,
                code="write_budget",
            )
        if wait > 0:
            self.sleep(wait)
        return wait

    def report_usage(self, percentage: float) -> None:
        """Microsoft says a limit is `percentage` used: slow every worker down."""
        factor = slowdown_factor(percentage)
        if factor >= 1.0:
            return
        if self._redis is not None:
            self._redis.set(self.slow_key, str(factor), ex=SLOWDOWN_SECONDS)
        else:
            self._local.slow(factor)

    def reset(self) -> None:
        if self._redis is not None:
            self._redis.delete(self.key, self.slow_key)
        else:
            self._local = _LocalBucket(self.rate, self.capacity)


_clients: dict[str, object] = {}


def redis_client(url: str):
    """One connection pool per Redis URL and process."""
    client = _clients.get(url)
    if client is None:
        import redis

        client = _clients[url] = redis.Redis.from_url(url)
    return client


class _LocalBucket:
    """The same bucket in one process, for development without Redis."""

    def __init__(self, rate: float, capacity: int):
        self.rate, self.capacity = rate, capacity
        self.tokens, self.ts = float(capacity), time.monotonic()
        self.factor, self.factor_until = 1.0, 0.0
        self.lock = threading.Lock()

    def slow(self, factor: float) -> None:
        with self.lock:
            self.factor, self.factor_until = factor, time.monotonic() + SLOWDOWN_SECONDS

    def take(self, n: int, max_wait: float) -> float:
        with self.lock:
            now = time.monotonic()
            rate = self.rate * (self.factor if now < self.factor_until else 1.0)
            self.tokens = min(self.capacity, self.tokens + (now - self.ts) * rate)
            self.ts = now
            wait = max(0.0, (n - self.tokens) / rate)
            if wait <= max_wait:
                self.tokens -= n
            return wait
