"""Microsoft's identity-and-access throttling model (graph-facts §5.2).

Each app+tenant pair has a resource-unit bucket sized by tenant size and a write
quota; the tenant as a whole has a write quota too (across applications), and so has
the application across all tenants (writes, and resource units per 20 s). A scaled run
of many tenants may lower the application's write limit (`app_write_limit`). Buckets
are fixed windows that start with the first request and refill
when the window ends, which makes "spend the documented budget, get a 429, wait
Retry-After, recover" exact and testable. The tenant's time scale divides every window
(and so Retry-After); the application-wide window takes the scale of the tenant whose
request opens it.

Fixed windows are one reading of the documented quota; a client that bursts at the end
of one window and the start of the next passes them with twice the quota in 150 s.
So graphsim also records, whether throttling is on or not, the most writes it accepted
in ANY interval of each window's length (`SlidingMost`): a client that keeps that at or
under the limit is within the quota under every reading.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

from graphsim.store import State, Tenant

RU_WINDOW = 10.0
RU_LIMITS = {"small": 3500, "medium": 5000, "large": 8000}
APP_WRITE_LIMIT, APP_WRITE_WINDOW = 3000, 150.0  # per application+tenant pair
TENANT_WRITE_LIMIT, TENANT_WRITE_WINDOW = 18000, 300.0  # per tenant, all applications
APP_WIDE_WRITE_LIMIT, APP_WIDE_WRITE_WINDOW = 70000, 300.0  # per application, all tenants
APP_RU_LIMIT, APP_RU_WINDOW = 150000, 20.0  # resource units per application, all tenants
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}
PRIORITIES = ("low", "normal", "high")


@dataclass
class SlidingMost:
    """The most writes seen in any closed interval of `length` seconds. The busiest
    interval can always be slid to end at a write, so checking at each write is exact."""

    length: float
    times: deque = field(default_factory=deque)
    most: int = 0

    def add(self, now: float, writes: int) -> None:
        self.times.extend([now] * writes)
        while self.times and self.times[0] < now - self.length:
            self.times.popleft()
        self.most = max(self.most, len(self.times))

    def view(self, limit: int) -> dict:
        return {"windowSeconds": self.length, "limit": limit, "mostWrites": self.most}


@dataclass
class Verdict:
    ru: int
    write: int
    retry_after: float | None = None
    information: str = ""
    limit_percentage: float | None = None


def request_cost(method: str, route: str, query: dict) -> tuple[int, int]:
    """(resource units, write units) for one request, with the documented modifiers."""
    base = 1
    if method == "GET":
        if route in ("users", "users.delta"):
            base = 2 if route == "users" else 1
        elif route == "group.members":
            base = 3
        elif route == "group.transitiveMembers":
            base = 5
        elif route == "subscribedSkus":
            base = 3
        elif route == "applications":
            base = 2
    if "$select" in query:
        base -= 1
    if "$expand" in query:
        base += 1
    top = query.get("$top")
    if top and top.isdigit() and int(top) < 20:
        base -= 1
    return max(base, 1), 1 if method in WRITE_METHODS else 0


def tenant_size(tenant: Tenant) -> str:
    configured = tenant.settings.get("size")
    if configured in RU_LIMITS:
        return configured
    count = len(tenant.users)
    return "small" if count < 50 else "medium" if count <= 500 else "large"


def format_seconds(seconds: float) -> str:
    """Whole seconds like Microsoft; fractions only when the time scale made them small."""
    if seconds >= 10:
        return str(math.ceil(seconds))
    return f"{max(seconds, 0.001):.3f}".rstrip("0").rstrip(".")


def _window(store: dict, key: str, length: float, now: float) -> list:
    """[start, used, length] of the fixed window running at `now`."""
    window = store.get(key)
    if window is None or now - window[0] >= window[2]:
        window = [now, 0, length]
        store[key] = window
    return window


def record_writes(state: State, tenant: Tenant, app_id: str, write: int, now: float) -> None:
    """Count accepted writes in the sliding records of the app+tenant pair, the tenant
    and the application."""
    if not write:
        return
    scale, runtime = tenant.scale, tenant.runtime
    if app_id not in runtime.write_most:
        runtime.write_most[app_id] = SlidingMost(APP_WRITE_WINDOW / scale)
    if runtime.tenant_write_most is None:
        runtime.tenant_write_most = SlidingMost(TENANT_WRITE_WINDOW / scale)
    if app_id not in state.app_write_most:
        state.app_write_most[app_id] = SlidingMost(APP_WIDE_WRITE_WINDOW / scale)
    for record in (
        runtime.write_most[app_id],
        runtime.tenant_write_most,
        state.app_write_most[app_id],
    ):
        record.add(now, write)


def record_priority(tenant: Tenant, write: int, header: str | None) -> None:
    """Count the `x-ms-throttle-priority` of writes. Microsoft documents that it only
    orders who is throttled first once a limit is hit and never changes a limit; in
    graphsim's deterministic windows every request over a limit is refused alike, so
    the header is recorded (for clients to prove what they send), not acted on."""
    if write:
        value = (header or "").lower()
        key = value if value in PRIORITIES else "none"
        tenant.runtime.priorities[key] = tenant.runtime.priorities.get(key, 0) + 1


def write_windows(tenant: Tenant) -> dict:
    """The tenant's sliding write records, per application and for the tenant."""
    runtime = tenant.runtime
    tenant_most = runtime.tenant_write_most or SlidingMost(TENANT_WRITE_WINDOW / tenant.scale)
    return {
        "timeScale": tenant.scale,
        "applications": {
            app_id: record.view(APP_WRITE_LIMIT) for app_id, record in runtime.write_most.items()
        },
        "tenant": tenant_most.view(TENANT_WRITE_LIMIT),
        "priorities": dict(runtime.priorities),
    }


def app_write_limit(state: State, app_id: str) -> int:
    """The application-wide write limit: Microsoft's, or the lower one set for the app."""
    return state.app_write_limits.get(app_id, APP_WIDE_WRITE_LIMIT)


def app_write_windows(state: State, app_id: str) -> dict:
    """The application's sliding write record across all tenants."""
    record = state.app_write_most.get(app_id) or SlidingMost(APP_WIDE_WRITE_WINDOW)
    return record.view(app_write_limit(state, app_id))


def charge(state: State, tenant: Tenant, app_id: str, ru: int, write: int) -> Verdict:
    """Charge a request to its buckets, or say how long to wait if one is empty."""
    verdict = Verdict(ru=ru, write=write)
    now = time.monotonic()
    if not tenant.settings.get("throttling"):
        record_writes(state, tenant, app_id, write, now)
        return verdict
    scale, runtime = tenant.scale, tenant.runtime
    ru_limit = RU_LIMITS[tenant_size(tenant)]
    ru_window = _window(runtime.ru_window, app_id, RU_WINDOW / scale, now)
    app_ru_window = _window(state.app_ru_window, app_id, APP_RU_WINDOW / scale, now)
    write_windows = [
        (_window(runtime.write_window, app_id, APP_WRITE_WINDOW / scale, now), APP_WRITE_LIMIT),
        (_window(runtime.write_window, "*", TENANT_WRITE_WINDOW / scale, now), TENANT_WRITE_LIMIT),
        (
            _window(state.app_write_window, app_id, APP_WIDE_WRITE_WINDOW / scale, now),
            app_write_limit(state, app_id),
        ),
    ]
    waits = []
    for window, limit in ((ru_window, ru_limit), (app_ru_window, APP_RU_LIMIT)):
        if window[1] + ru > limit:
            waits.append((window[0] + window[2] - now, "ResourceUnitLimitExceeded"))
    for window, limit in write_windows if write else []:
        if window[1] + write > limit:
            waits.append((window[0] + window[2] - now, "WriteLimitExceeded"))
    if waits:
        wait, information = max(waits)
        verdict.retry_after, verdict.information = max(wait, 0.001), information
        return verdict
    ru_window[1] += ru
    app_ru_window[1] += ru
    for window, _ in write_windows:
        window[1] += write
    record_writes(state, tenant, app_id, write, now)
    used = ru_window[1] / ru_limit
    if used > 0.8:
        verdict.limit_percentage = round(min(used, 1.8), 2)
    return verdict
