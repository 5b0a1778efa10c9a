"""Microsoft's identity-and-access throttling model (graph-facts §5.2).

Each app+tenant pair has a resource-unit bucket sized by tenant size and a write
quota; the tenant as a whole has a write quota too. Buckets are fixed windows
that start with the first request and refill when the window ends, which makes
"spend the documented budget, get a 429, wait Retry-After, recover" exact and
testable. The tenant's time scale divides every window (and so Retry-After).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from graphsim.store import Tenant

RU_WINDOW = 10.0
RU_LIMITS = {"small": 3500, "medium": 5000, "large": 8000}
APP_WRITE_LIMIT, APP_WRITE_WINDOW = 3000, 150.0
TENANT_WRITE_LIMIT, TENANT_WRITE_WINDOW = 18000, 300.0
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


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
    window = store.get(key)
    if window is None or now - window[0] >= length:
        window = [now, 0]
        store[key] = window
    return window


def charge(tenant: Tenant, app_id: str, ru: int, write: int) -> Verdict:
    """Charge a request to its buckets, or say how long to wait if one is empty."""
    verdict = Verdict(ru=ru, write=write)
    if not tenant.settings.get("throttling"):
        return verdict
    now, scale, runtime = time.monotonic(), tenant.scale, tenant.runtime
    ru_limit = RU_LIMITS[tenant_size(tenant)]
    ru_window = _window(runtime.ru_window, app_id, RU_WINDOW / scale, now)
    app_writes = _window(runtime.write_window, app_id, APP_WRITE_WINDOW / scale, now)
    tenant_writes = _window(runtime.write_window, "*", TENANT_WRITE_WINDOW / scale, now)
    waits = []
    if ru_window[1] + ru > ru_limit:
        waits.append((ru_window[0] + RU_WINDOW / scale - now, "ResourceUnitLimitExceeded"))
    if write and app_writes[1] + write > APP_WRITE_LIMIT:
        waits.append((app_writes[0] + APP_WRITE_WINDOW / scale - now, "WriteLimitExceeded"))
    if write and tenant_writes[1] + write > TENANT_WRITE_LIMIT:
        waits.append((tenant_writes[0] + TENANT_WRITE_WINDOW / scale - now, "WriteLimitExceeded"))
    if waits:
        wait, information = max(waits)
        verdict.retry_after, verdict.information = max(wait, 0.001), information
        return verdict
    ru_window[1] += ru
    app_writes[1] += write
    tenant_writes[1] += write
    used = ru_window[1] / ru_limit
    if used > 0.8:
        verdict.limit_percentage = round(min(used, 1.8), 2)
    return verdict
