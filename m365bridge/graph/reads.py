"""The resource-unit budget: Microsoft limits every request to its identity and access
service (reads and writes alike) in resource units per 10 s for each application+tenant
pair, by the tenant's size, and per 20 s for the application across all tenants
(`RU_LIMITS`, graph-facts §5.2). Each request costs units by what it asks for
(`RU_COSTS`, modified by `$select`, `$expand` and `$top`).

`ReadBudget` keeps those as sliding windows in Redis like the write budget (the same
Lua script, `windows`): the client takes a request's units before it leaves and waits
when they do not fit, so a reconcile or an import reading a large tenant never runs into
Microsoft's limit, even while a bulk bind writes to it. A 429 for resource units holds
every worker's requests to the tenant for its Retry-After; an `x-ms-resource-unit`
header larger than the table's cost charges the difference.

A tenant's size is what Stratus last read of it (its mirror); unknown, it is small: the
strictest limit, safe for every tenant.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from .budget import TRANSIT_ALLOWANCE, SharedBudget
from .errors import Throttled


@dataclass(frozen=True)
class ReadLimit:
    scope: str  # "app+tenant" or "app"
    units: int
    seconds: float
    source: str


# graph-facts §5.2 (learn.microsoft.com/graph/throttling-limits, "Identity and access
# service limits"): the application+tenant quota by tenant size, and the application's.
RU_LIMITS = {
    "small": ReadLimit("app+tenant", 3500, 10.0, "graph-facts §5.2: S (<50 users) 3,500 / 10 s"),
    "medium": ReadLimit("app+tenant", 5000, 10.0, "graph-facts §5.2: M (50-500) 5,000 / 10 s"),
    "large": ReadLimit("app+tenant", 8000, 10.0, "graph-facts §5.2: L (>500) 8,000 / 10 s"),
}
APP_RU_LIMIT = ReadLimit("app", 150000, 20.0, "graph-facts §5.2: application 150,000 / 20 s")

# Base cost of a request (graph-facts §5.2); anything not listed costs 1. The pattern is
# matched against the path after /v1.0/.
RU_COSTS = (
    ("GET", re.compile(r"^users$"), 2, "GET users = 2"),
    ("GET", re.compile(r"^groups/[^/]+/members(/\$ref)?$"), 3, "GET groups/{id}/members = 3"),
    (
        "GET",
        re.compile(r"^groups/[^/]+/transitiveMembers$"),
        5,
        "GET groups/{id}/transitiveMembers = 5",
    ),
    ("GET", re.compile(r"^subscribedSkus$"), 3, "GET subscribedSkus = 3"),
    ("GET", re.compile(r"^applications$"), 2, "GET applications = 2"),
    ("POST", re.compile(r"^directoryObjects/getByIds$"), 3, "POST directoryObjects/getByIds = 3"),
    ("POST", re.compile(r"(^|/)isMemberOf$"), 4, "POST isMemberOf = 4"),
)


def tenant_size(users: int | None) -> str:
    """small (<50 users), medium (50-500) or large (>500); unknown: small."""
    if users is None or users < 50:
        return "small"
    return "medium" if users <= 500 else "large"


def request_units(method: str, path: str, params: dict | None = None) -> int:
    """Resource units of one request, with the documented modifiers: $select -1,
    $expand +1, $top under 20 -1, never below 1."""
    parts = urlsplit(path)
    route = re.sub(r"^/?(v1\.0/)?", "", parts.path.lstrip("/"))
    query = dict(parse_qsl(parts.query))
    query.update({str(k): str(v) for k, v in (params or {}).items()})
    method = method.upper()
    cost = next((c for m, pattern, c, _ in RU_COSTS if m == method and pattern.search(route)), 1)
    if "$select" in query:
        cost -= 1
    if "$expand" in query:
        cost += 1
    top = query.get("$top", "")
    if top.isdigit() and int(top) < 20:
        cost -= 1
    return max(cost, 1)


def batch_units(items: list[dict]) -> int:
    """A `$batch` costs what its requests cost, each charged on its own."""
    return sum(request_units(item["method"], item["url"]) for item in items)


class ReadBudget(SharedBudget):
    """The resource units of one tenant, shared by every worker. No priorities: the
    write budget orders writes; units are first come, first served."""

    kind = "reads"
    reserve_share = 0.0

    def __init__(
        self,
        *,
        tenant_id: str,
        app_id: str = "",
        redis_url: str = "",
        size: str = "small",
        time_scale: float = 1.0,
        transit: float = TRANSIT_ALLOWANCE,
        max_wait: float = 120.0,
        sleep=time.sleep,
    ):
        if size not in RU_LIMITS:
            raise ValueError(f"size must be one of {sorted(RU_LIMITS)}, not {size!r}")
        app_id = app_id or "app"
        limits = {(app_id, tenant_id): RU_LIMITS[size], (app_id, "*"): APP_RU_LIMIT}
        super().__init__(
            tenant_id=tenant_id,
            app_id=app_id,
            scoped=[(*scope, limit.units, limit.seconds) for scope, limit in limits.items()],
            time_scale=time_scale,
            transit=transit,
            redis_url=redis_url,
            max_wait=max_wait,
            sleep=sleep,
        )
        self.size = size

    def charged(self, reserved: int, header: str | None) -> None:
        """Microsoft said what the request cost (`x-ms-resource-unit`): count what the
        table did not."""
        try:
            extra = math.ceil(float(header or 0)) - reserved
        except ValueError:
            return
        if extra > 0:
            try:
                self.take(min(extra, self.windows[0].units))
            except Throttled:  # counted next time: the answer is in already
                pass
