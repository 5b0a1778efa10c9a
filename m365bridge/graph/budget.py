"""The write budget shared by every worker process and machine: Microsoft's documented
write quotas as sliding windows in Redis, updated atomically by one Lua script that
reads Redis's clock.

Microsoft limits writes per application+tenant, per tenant and per application
(`WRITE_LIMITS`, graph-facts §5.2). Its documentation does not say whether a window is
fixed or sliding, so the budget takes the strictest reading: in ANY interval of a
window's length, never more than its limit. Within that, a burst may use the whole
window at once (3,000 writes straight away, the next ones as the first leave the
window), which is what makes a bulk bind as fast as the quota allows.

Each window is a Redis hash of time slots (1/150 of the window) to writes. A slot is
counted while any part of it lies within the window, so the count is never below the
truth. Writes are counted when they are reserved, just before they leave; a window is
`TRANSIT_ALLOWANCE` longer than Microsoft's, so a write that reaches Microsoft a little
after its reservation still falls inside the interval it was counted in.

Priorities: `high` writes (blocking sign-in, password pushes, unblocks) may use the
whole window; every other write leaves `RESERVE_SHARE` of it free, so a bulk bind that
bursts to the limit never makes a security-relevant write wait for a window to pass.

Microsoft's own signals adjust it: `x-ms-throttle-limit-percentage` (sent once 80 % of
a limit is used) shrinks what non-high writes may use for a minute (`report_usage`); a
429 for writes holds every worker for its Retry-After (`hold`).

`time_scale` exists for graphsim, whose tenants compress Microsoft's windows by a
factor (M365_GRAPH_TIME_SCALE): the windows shrink by the same factor, so a scaled run
is the real run sped up. It is 1 against Microsoft.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

from .errors import Throttled

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteLimit:
    scope: str  # what the window counts: "app+tenant", "tenant" or "app"
    writes: int
    seconds: float
    source: str


# Microsoft's documented write quotas (graph-facts §5.2, from
# learn.microsoft.com/graph/throttling-limits, "Identity and access service limits").
# Reads are limited in resource units per 10 s by tenant size instead; Stratus's reads
# (reconcile, import) are paced by Microsoft's Retry-After, not by this budget.
WRITE_LIMITS = (
    WriteLimit("app+tenant", 3000, 150.0, "graph-facts §5.2: 3,000 per 2 min 30 s"),
    WriteLimit("tenant", 18000, 300.0, "graph-facts §5.2: 18,000 per 5 min"),
    WriteLimit("app", 70000, 300.0, "graph-facts §5.2: 70,000 per 5 min, all tenants"),
)
WRITE_QUOTA = WRITE_LIMITS[0].writes  # per application+tenant ...
WRITE_QUOTA_WINDOW = WRITE_LIMITS[0].seconds  # ... per 2 min 30 s
SLOTS_PER_WINDOW = 150
TRANSIT_ALLOWANCE = 1.0  # seconds (real, not scaled) from reservation to Microsoft
RESERVE_SHARE = 0.05  # of every window, kept for high-priority writes
SLOWDOWN_SECONDS = 60
PRIORITIES = ("low", "normal", "high")
REDIS_DOWN_RETRY = 5.0  # seconds before a write paused by a Redis outage is tried again

# KEYS: hold, slowdown, then one hash per window. ARGV: n, high (0/1), reserve share,
# dry (1: only say), then limit, length, slot of each window. Returns "0" when the n
# writes were counted in every window (or would be, when dry), "-1" when they can never
# fit, or else the seconds until they would (as a string: Lua numbers are truncated to
# integers on the way out), counting nothing.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n = tonumber(ARGV[1])
local high = ARGV[2] == '1'
local held = redis.call('PTTL', KEYS[1])
if held > 0 then return tostring(held / 1000) end
local reserve, factor, slowed = 0, 1, 0
if not high then
  reserve = tonumber(ARGV[3])
  factor = tonumber(redis.call('GET', KEYS[2]) or '1')
  slowed = redis.call('PTTL', KEYS[2]) / 1000
end
local wait = 0
local slots_now = {}
for i = 3, #KEYS do
  local j = 5 + (i - 3) * 3
  local limit = math.floor(tonumber(ARGV[j]) * (1 - reserve))
  local length = tonumber(ARGV[j + 1])
  local slot = tonumber(ARGV[j + 2])
  if n > limit then return '-1' end
  limit = math.floor(limit * factor)
  if n > limit then wait = math.max(wait, slowed) end
  local first = math.floor((now - length) / slot)
  local used, slots = 0, {}
  local flat = redis.call('HGETALL', KEYS[i])
  for k = 1, #flat, 2 do
    local index = tonumber(flat[k])
    if index < first then
      redis.call('HDEL', KEYS[i], flat[k])
    else
      used = used + tonumber(flat[k + 1])
      table.insert(slots, {index, tonumber(flat[k + 1])})
    end
  end
  local excess = used + n - limit
  if excess > 0 then
    table.sort(slots, function(a, b) return a[1] < b[1] end)
    local freed = 0
    for _, s in ipairs(slots) do
      freed = freed + s[2]
      if freed >= excess then
        wait = math.max(wait, (s[1] + 1) * slot + length - now)
        break
      end
    end
  end
  slots_now[i] = {tostring(math.floor(now / slot)), math.ceil((length + slot) * 1000)}
end
if wait > 0 or ARGV[4] == '1' then return tostring(wait) end
for i = 3, #KEYS do
  redis.call('HINCRBY', KEYS[i], slots_now[i][1], n)
  redis.call('PEXPIRE', KEYS[i], slots_now[i][2])
end
return '0'
"""


def slowdown_factor(percentage: float) -> float:
    """How much of the normal limits to use when Microsoft reports `percentage` of a
    limit used (0.8 means 80 %; values above 2 are read as percents)."""
    if percentage > 2:
        percentage /= 100
    if percentage < 0.8:
        return 1.0
    return max(0.1, min(1.0, 0.8 / percentage - 0.3))


@dataclass(frozen=True)
class Window:
    """One write limit as the budget applies it: scaled, with the transit allowance."""

    key: str
    writes: int
    length: float
    slot: float


class WriteBudget:
    """`take(n, priority=...)` blocks until n writes may be sent to the tenant, or
    raises `Throttled` (the wait would exceed `max_wait`, or Redis is unreachable:
    then nothing is sent until it is back)."""

    def __init__(
        self,
        *,
        tenant_id: str,
        app_id: str = "",
        redis_url: str = "",
        time_scale: float = 1.0,
        limits: tuple[WriteLimit, ...] = WRITE_LIMITS,
        transit: float = TRANSIT_ALLOWANCE,
        max_wait: float = 120.0,
        sleep=time.sleep,
    ):
        self.tenant_id = tenant_id
        self.app_id = app_id or "app"
        self.time_scale = time_scale
        self.max_wait = max_wait
        self.sleep = sleep
        prefix = "stratus:m365:writes"
        self.windows = [self._window(prefix, limit, time_scale, transit) for limit in limits]
        self.hold_key = f"{prefix}:hold:{self.app_id}:{tenant_id}"
        self.slow_key = f"{prefix}:slow:{self.app_id}:{tenant_id}"
        self._redis = None
        self._script = None
        if redis_url:
            self._redis = redis_client(redis_url)
            self._script = self._redis.register_script(_TAKE)
        else:
            log.warning("REDIS_URL is not set: the Graph write budget is per process only")
            self._local = _local_windows(self)

    def _window(self, prefix: str, limit: WriteLimit, time_scale: float, transit: float) -> Window:
        app, tenant = {
            "app+tenant": (self.app_id, self.tenant_id),
            "tenant": ("*", self.tenant_id),
            "app": (self.app_id, "*"),
        }[limit.scope]
        seconds = limit.seconds / time_scale
        return Window(
            key=f"{prefix}:{app}:{tenant}",
            writes=limit.writes,
            length=seconds + transit,
            slot=seconds / SLOTS_PER_WINDOW,
        )

    def take(self, n: int = 1, *, priority: str = "normal", max_wait: float | None = None) -> float:
        """Reserve n writes; returns how long it waited. `max_wait` lowers the budget's
        own limit for this call (bulk work that would rather be left for later)."""
        limit = self.max_wait if max_wait is None else min(max_wait, self.max_wait)
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {PRIORITIES}, not {priority!r}")
        if n <= 0:
            return 0.0
        waited = 0.0
        while True:
            wait = self._try(n, priority == "high")
            if wait == 0:
                return waited
            if wait < 0:
                raise ValueError(f"{n} writes at once can never fit the write budget")
            if waited + wait > limit:
                raise Throttled(
                    f"The write budget of tenant {self.tenant_id} is used up; "
                    f"retry in {wait:.1f} s.",
                    retry_after=wait,
                    code="write_budget",
                )
            self.sleep(wait)
            waited += wait

    def wait_for(self, n: int, *, priority: str = "normal") -> float:
        """Seconds until n writes at `priority` would fit, reserving nothing (0: now)."""
        return max(0.0, self._try(n, priority == "high", dry=True))

    def _try(self, n: int, high: bool, *, dry: bool = False) -> float:
        if self._script is None:
            return self._local.take(n, high, dry=dry)
        args: list = [n, 1 if high else 0, RESERVE_SHARE, 1 if dry else 0]
        for window in self.windows:
            args += [window.writes, window.length, window.slot]
        try:
            return float(
                self._script(
                    keys=[self.hold_key, self.slow_key, *(w.key for w in self.windows)],
                    args=args,
                )
            )
        except _redis_errors() as exc:
            log.error(
                "Redis is unreachable (%s): Graph writes to tenant %s are paused until "
                "the shared write budget can be checked again",
                type(exc).__name__,
                self.tenant_id,
            )
            raise Throttled(
                "Writes to Microsoft 365 are paused: the shared write budget (Redis) "
                "is unreachable.",
                retry_after=REDIS_DOWN_RETRY,
                code="write_budget_unavailable",
            ) from None

    def report_usage(self, percentage: float) -> None:
        """Microsoft says a limit is `percentage` used: every worker's non-high writes
        use that much less of each window for a minute."""
        factor = slowdown_factor(percentage)
        if factor >= 1.0:
            return
        if self._redis is not None:
            self._redis.set(self.slow_key, str(factor), ex=SLOWDOWN_SECONDS)
        else:
            self._local.slow(factor)

    def hold(self, seconds: float) -> None:
        """Microsoft refused writes for `seconds` (a 429 for writes): no worker sends any
        to this tenant before then."""
        if seconds <= 0:
            return
        if self._redis is not None:
            self._redis.set(self.hold_key, "1", px=max(1, math.ceil(seconds * 1000)))
        else:
            self._local.hold(seconds)

    def used_share(self) -> float:
        """Share of the app+tenant window used right now (0 to 1; more while writers
        wait), for the operators' metrics. Reads Redis; 0 without it."""
        if self._redis is None:
            return 0.0
        window = self.windows[0]
        seconds, micros = self._redis.time()
        first = int((seconds + micros / 1_000_000 - window.length) // window.slot)
        slots = self._redis.hgetall(window.key)
        used = sum(int(count) for index, count in slots.items() if int(index) >= first)
        return used / window.writes

    def reset(self) -> None:
        if self._redis is not None:
            self._redis.delete(self.hold_key, self.slow_key, *(w.key for w in self.windows))
        else:
            self._local.reset()


_clients: dict[str, object] = {}


def redis_client(url: str):
    """One connection pool per Redis URL and process."""
    client = _clients.get(url)
    if client is None:
        import redis

        client = _clients[url] = redis.Redis.from_url(url)
    return client


def _redis_errors() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.ConnectionError, redis.TimeoutError)


# Keyed like Redis, so every budget of one tenant in this process shares its windows.
_local_state: dict[str, dict] = {}
_local_lock = threading.Lock()


def _local_windows(budget: WriteBudget) -> _LocalWindows:
    return _LocalWindows(budget.windows, budget.hold_key, budget.slow_key)


class _LocalWindows:
    """The same windows in one process, for development without Redis (what the Lua
    script does, step by step)."""

    def __init__(self, windows: list[Window], hold_key: str, slow_key: str):
        self.windows, self.hold_key, self.slow_key = windows, hold_key, slow_key

    def reset(self) -> None:
        with _local_lock:
            for key in (self.hold_key, self.slow_key, *(w.key for w in self.windows)):
                _local_state.pop(key, None)

    def slow(self, factor: float) -> None:
        with _local_lock:
            until = time.time() + SLOWDOWN_SECONDS
            _local_state[self.slow_key] = {"factor": factor, "until": until}

    def hold(self, seconds: float) -> None:
        with _local_lock:
            _local_state[self.hold_key] = {"until": time.time() + seconds}

    def take(self, n: int, high: bool, *, dry: bool = False) -> float:
        with _local_lock:
            now = time.time()
            held = _local_state.get(self.hold_key, {}).get("until", 0) - now
            if held > 0:
                return held
            reserve, factor, slowed = 0.0, 1.0, 0.0
            slow = _local_state.get(self.slow_key, {})
            if not high:
                reserve = RESERVE_SHARE
                if slow.get("until", 0) > now:
                    factor, slowed = slow["factor"], slow["until"] - now
            wait = 0.0
            for window in self.windows:
                limit = math.floor(window.writes * (1 - reserve))
                if n > limit:
                    return -1.0
                limit = math.floor(limit * factor)
                if n > limit:
                    wait = max(wait, slowed)
                slots = _local_state.setdefault(window.key, {})
                first = math.floor((now - window.length) / window.slot)
                for index in [i for i in slots if i < first]:
                    del slots[index]
                excess = sum(slots.values()) + n - limit
                freed = 0
                for index in sorted(slots) if excess > 0 else []:
                    freed += slots[index]
                    if freed >= excess:
                        end = (index + 1) * window.slot + window.length - now
                        wait = max(wait, end)
                        break
            if wait > 0 or dry:
                return wait
            for window in self.windows:
                index = math.floor(now / window.slot)
                slots = _local_state[window.key]
                slots[index] = slots.get(index, 0) + n
            return 0.0
