"""The write budget shared by every worker process and machine: Microsoft's documented
write quotas as sliding windows in Redis, updated atomically by one Lua script that
reads Redis's clock.

Microsoft limits writes per application+tenant, per tenant and per application
(`WRITE_LIMITS`, graph-facts §5.2). Its documentation does not say whether a window is
fixed or sliding, so the budget takes the strictest reading: in ANY interval of a
window's length, never more than its limit. Within that, a burst may use the whole
window at once (3,000 writes straight away, the next ones as the first leave the
window), which is what makes a bulk bind as fast as the quota allows.

The windows themselves (Redis hashes of time slots, one Lua script) are `windows`.
Writes are counted when they are reserved, just before they leave; a window is
`TRANSIT_ALLOWANCE` longer than Microsoft's, so a write that reaches Microsoft a little
after its reservation still falls inside the interval it was counted in.

Priorities: `high` writes (blocking sign-in, password pushes, unblocks) may use the
whole window; every other write leaves `RESERVE_SHARE` of it free, so a bulk bind that
bursts to the limit never makes a security-relevant write wait for a window to pass.

Fair share: the application-wide window (70,000 per 5 min for ALL tenants of the app
registration) is divided between the tenants that asked for writes in the last
`ACTIVE_SECONDS`: each may always use its share (the limit over the active tenants,
capped by its own limits), more only when that leaves the others theirs. So one
tenant's 20,000-user onboarding cannot starve 200 small tenants, and when they are idle
it takes everything. The reserve holds in every share: high-priority writes of each
tenant find theirs free.

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
import time
from dataclasses import dataclass, replace

from directory.redis_pool import redis_errors

from .errors import Throttled
from .windows import Fairness, SlidingWindows, Window
from .windows_local import LocalWindows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteLimit:
    scope: str  # what the window counts: "app+tenant", "tenant" or "app"
    writes: int
    seconds: float
    source: str


# Microsoft's documented write quotas (graph-facts §5.2, from
# learn.microsoft.com/graph/throttling-limits, "Identity and access service limits").
# Reads are limited in resource units per 10 s by tenant size instead (`reads`).
WRITE_LIMITS = (
    WriteLimit("app+tenant", 3000, 150.0, "graph-facts §5.2: 3,000 per 2 min 30 s"),
    WriteLimit("tenant", 18000, 300.0, "graph-facts §5.2: 18,000 per 5 min"),
    WriteLimit("app", 70000, 300.0, "graph-facts §5.2: 70,000 per 5 min, all tenants"),
)
WRITE_QUOTA = WRITE_LIMITS[0].writes  # per application+tenant ...
WRITE_QUOTA_WINDOW = WRITE_LIMITS[0].seconds  # ... per 2 min 30 s
# Seconds (real, not scaled) from a write's reservation to its arrival at Microsoft. The
# client reserves a write last, after any wait for resource units, right before the
# request leaves (and again for each retry), so only the request's own way there lies
# between: about 0.1 s against graphsim's 80 ms of latency, more on a loaded machine; a
# half second keeps a wide margin. graphsim's record of the most writes in any window
# checks it in every benchmark.
TRANSIT_ALLOWANCE = 0.5
RESERVE_SHARE = 0.05  # of every window, kept for high-priority writes
SLOWDOWN_SECONDS = 60
PRIORITIES = ("low", "normal", "high")
REDIS_DOWN_RETRY = 5.0  # seconds before a write paused by a Redis outage is tried again
# A tenant counts as asking for its fair share of the application-wide window for this
# long (real seconds, scaled like the windows) after it last asked.
ACTIVE_SECONDS = 10.0


def slowdown_factor(percentage: float) -> float:
    """How much of the normal limits to use when Microsoft reports `percentage` of a
    limit used (0.8 means 80 %; values above 2 are read as percents)."""
    if percentage > 2:
        percentage /= 100
    if percentage < 0.8:
        return 1.0
    return max(0.1, min(1.0, 0.8 / percentage - 0.3))


def write_limits(*, app_writes: int | None = None) -> tuple[WriteLimit, ...]:
    """The documented limits, with the application-wide one lowered to `app_writes`
    (a deployment that shares its app registration, or a scaled benchmark); never
    raised above what Microsoft allows."""
    if app_writes is None:
        return WRITE_LIMITS
    documented = WRITE_LIMITS[2].writes
    if not 0 < app_writes <= documented:
        raise ValueError(
            f"M365_APP_WRITE_QUOTA must be between 1 and Microsoft's {documented:,}, "
            f"not {app_writes}"
        )
    source = f"{WRITE_LIMITS[2].source}, lowered by M365_APP_WRITE_QUOTA"
    return (*WRITE_LIMITS[:2], replace(WRITE_LIMITS[2], writes=app_writes, source=source))


class SharedBudget:
    """Units (writes or resource units) to one tenant in sliding windows shared by every
    worker: `take(n, priority=...)` blocks until n may be sent, or raises `Throttled`
    (the wait would exceed `max_wait`, or Redis is unreachable: then nothing is sent
    until it is back)."""

    kind = "writes"
    reserve_share = RESERVE_SHARE

    def __init__(
        self,
        *,
        tenant_id: str,
        app_id: str,
        scoped: list[tuple[str, str, int, float]],
        time_scale: float,
        transit: float,
        redis_url: str,
        max_wait: float,
        sleep,
        fairness: Fairness | None = None,
    ):
        """`scoped`: (app, tenant, units, seconds) of each window, "*" for all; the
        windows are `seconds / time_scale` long, plus `transit`."""
        self.tenant_id, self.app_id = tenant_id, app_id
        self.max_wait, self.sleep = max_wait, sleep
        prefix = self.key_prefix()
        self.windows = [
            Window.of(f"{prefix}:{app}:{tenant}", units, seconds / time_scale, transit)
            for app, tenant, units, seconds in scoped
        ]
        self.hold_key = f"{prefix}:hold:{app_id}:{tenant_id}"
        self.slow_key = f"{prefix}:slow:{app_id}:{tenant_id}"
        self.redis_url = redis_url
        keys = dict(windows=self.windows, hold_key=self.hold_key, slow_key=self.slow_key)
        if redis_url:
            self.store = SlidingWindows(redis_url=redis_url, fairness=fairness, **keys)
        else:
            log.warning("REDIS_URL is not set: the Graph %s budget is per process only", self.kind)
            self.store = LocalWindows(fairness=fairness, **keys)

    @classmethod
    def key_prefix(cls) -> str:
        return f"stratus:m365:{cls.kind}"

    def take(self, n: int = 1, *, priority: str = "normal", max_wait: float | None = None) -> float:
        """Reserve n units; returns how long it waited. `max_wait` lowers the budget's
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
                raise ValueError(f"{n} {self.kind} at once can never fit the {self.kind} budget")
            if waited + wait > limit:
                raise Throttled(
                    f"The {self.kind} budget of tenant {self.tenant_id} is used up; "
                    f"retry in {wait:.1f} s.",
                    retry_after=wait,
                    code=f"{self.kind[:-1]}_budget",
                )
            self.sleep(wait)
            waited += wait

    def wait_for(self, n: int, *, priority: str = "normal") -> float:
        """Seconds until n units at `priority` would fit, reserving nothing (0: now)."""
        return max(0.0, self._try(n, priority == "high", dry=True))

    def _try(self, n: int, high: bool, *, dry: bool = False) -> float:
        try:
            wait = self.store.ask(n, high=high, reserve=self.reserve_share, dry=dry)
        except redis_errors() as exc:
            log.error(
                "Redis is unreachable (%s): Graph %s to tenant %s are paused until "
                "the shared %s budget can be checked again",
                type(exc).__name__,
                self.kind,
                self.tenant_id,
                self.kind[:-1],
            )
            _notify(redis_lost_observers, self.redis_url, error=exc)
            raise Throttled(
                f"Sending to Microsoft 365 is paused: the shared {self.kind[:-1]} budget "
                "(Redis) is unreachable.",
                retry_after=REDIS_DOWN_RETRY,
                code=f"{self.kind[:-1]}_budget_unavailable",
            ) from None
        if self.redis_url in _lost:
            _notify(redis_found_observers, self.redis_url)
        return wait

    def report_usage(self, percentage: float) -> None:
        """Microsoft says a limit is `percentage` used: every worker's non-high units
        use that much less of each window for a minute."""
        factor = slowdown_factor(percentage)
        if factor < 1.0:
            self.store.slow(factor, SLOWDOWN_SECONDS)

    def hold(self, seconds: float) -> None:
        """Microsoft refused (a 429) for `seconds`: no worker sends any of these units
        to this tenant before then."""
        if seconds > 0:
            self.store.hold(seconds)

    def used_share(self) -> float:
        """Share of the first window used right now (0 to 1; more while senders wait),
        for the operators' metrics."""
        return self.store.used(0) / self.windows[0].units

    def reset(self) -> None:
        self.store.reset()


# What this process's budgets say when they lose Redis (`observer(error=)`, each time)
# and find it again (`observer()`, once): the workers record it so the console shows a
# banner (`m365bridge.pause`). An observer's own failure is logged, never raised.
redis_lost_observers: list = []
redis_found_observers: list = []
_lost: set[str] = set()


def _notify(observers: list, redis_url: str, **kwargs) -> None:
    if kwargs:
        _lost.add(redis_url)
    else:
        _lost.discard(redis_url)
    for observer in observers:
        try:
            observer(**kwargs)
        except Exception:
            log.exception("a Redis outage observer failed")


class WriteBudget(SharedBudget):
    """The write budget of one tenant: `WRITE_LIMITS`, the application-wide window
    divided fairly between the tenants writing (`windows.Fairness`)."""

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
        app_id = app_id or "app"
        self.time_scale = time_scale
        scopes = {
            "app+tenant": (app_id, tenant_id),
            "tenant": ("*", tenant_id),
            "app": (app_id, "*"),
        }
        super().__init__(
            tenant_id=tenant_id,
            app_id=app_id,
            scoped=[(*scopes[limit.scope], limit.writes, limit.seconds) for limit in limits],
            time_scale=time_scale,
            transit=transit,
            redis_url=redis_url,
            max_wait=max_wait,
            sleep=sleep,
            fairness=_fairness(self.key_prefix(), app_id, tenant_id, limits, time_scale),
        )


def _fairness(prefix, app_id, tenant_id, limits, time_scale) -> Fairness | None:
    """Divide the application-wide window fairly; each tenant's cap is what its own
    limits allow over that window's length."""
    shared = [i for i, limit in enumerate(limits) if limit.scope == "app"]
    if not shared:
        return None
    app = limits[shared[0]]
    caps = [
        math.floor(limit.writes * math.ceil(app.seconds / limit.seconds))
        for limit in limits
        if limit.scope != "app"
    ]
    return Fairness(
        prefix=f"{prefix}:fair:{app_id}",
        window=shared[0] + 1,
        tenant=tenant_id,
        cap=min([app.writes, *caps]),
        active_for=ACTIVE_SECONDS / time_scale,
    )
