"""Fair share of the application-wide write quota: one tenant's big onboarding cannot
starve the small tenants writing at the same time, and takes everything when they are
idle. With real Redis (shared by every worker) and in one process (development)."""

import os
import threading
import time
import uuid

import pytest

from m365bridge.graph.budget import WRITE_LIMITS, WriteBudget, WriteLimit, write_limits
from m365bridge.graph.errors import Throttled

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
SMALL = 20
# A scaled-down app registration: 420 writes per window for all tenants (399 for bulk
# work, the rest is the high-priority reserve); each tenant alone may write 1,000.
LIMITS = (
    WriteLimit("app+tenant", 1000, 60.0, "test"),
    WriteLimit("app", 420, 60.0, "test"),
)


@pytest.fixture(params=["redis", "local"])
def redis_url(request):
    return REDIS_URL if request.param == "redis" else ""


@pytest.fixture
def app_id():
    return f"app-{uuid.uuid4()}"


def tenant_budget(app_id, redis_url, *, limits=LIMITS, tenant_id="", **kwargs) -> WriteBudget:
    kwargs.setdefault("max_wait", 0.0)
    return WriteBudget(
        tenant_id=tenant_id or f"t-{uuid.uuid4()}",
        app_id=app_id,
        redis_url=redis_url,
        limits=limits,
        transit=0.0,
        **kwargs,
    )


def greedy(budget: WriteBudget, *, priority: str = "low") -> int:
    """Writes the budget grants one by one before it says wait."""
    taken = 0
    while True:
        try:
            budget.take(1, priority=priority)
        except Throttled:
            return taken
        taken += 1


def test_each_small_tenant_gets_its_share_while_a_big_one_writes_flat_out(app_id, redis_url):
    big = tenant_budget(app_id, redis_url)
    small = [tenant_budget(app_id, redis_url) for _ in range(SMALL)]
    big.reset()
    for budget in small:
        budget.wait_for(1, priority="low")  # asking marks a tenant active
    share = 399 // (SMALL + 1)  # 19
    assert greedy(big) == 399 - SMALL * share  # its own share, and what nobody claims
    for budget in small:
        assert greedy(budget) == share
    big.reset()


def test_a_big_tenant_alone_gets_the_whole_application_window(app_id, redis_url):
    big = tenant_budget(app_id, redis_url)
    big.reset()
    assert greedy(big) == 399
    big.reset()


def test_the_share_of_tenants_gone_idle_flows_back_to_the_busy_one(app_id, redis_url):
    # time scale 5: a tenant stops counting as active 2 s after it last asked
    limits = (WriteLimit("app+tenant", 1000, 300.0, "t"), WriteLimit("app", 420, 300.0, "t"))
    big = tenant_budget(app_id, redis_url, limits=limits, time_scale=5)
    small = [tenant_budget(app_id, redis_url, limits=limits, time_scale=5) for _ in range(4)]
    big.reset()
    for budget in small:
        budget.wait_for(1, priority="low")
    first = greedy(big)
    assert first == 399 - 4 * (399 // 5)
    time.sleep(2.2)  # the small ones asked nothing more
    assert greedy(big) == 399 - first
    big.reset()


def test_a_tenant_that_used_its_share_leaves_the_rest_to_the_others(app_id, redis_url):
    big = tenant_budget(app_id, redis_url)
    done = tenant_budget(app_id, redis_url)
    big.reset()
    big.wait_for(1)
    done.take(5, priority="low")  # needed only 5 of its 199
    assert greedy(big) == 399 - 5 - (199 - 5)  # the unused part of its share waits for it
    big.reset()


def test_a_tenant_is_capped_by_its_own_limits_and_the_rest_is_shared(app_id, redis_url):
    # Alone in a roomy app window, each tenant's share is only what its own 100 allow.
    limits = (WriteLimit("app+tenant", 100, 60.0, "t"), WriteLimit("app", 1000, 60.0, "t"))
    one = tenant_budget(app_id, redis_url, limits=limits)
    two = tenant_budget(app_id, redis_url, limits=limits)
    one.reset()
    two.wait_for(1)
    assert greedy(one) == 95  # its own window less the reserve; two's 95 are not touched
    assert greedy(two) == 95
    one.reset()


def test_every_tenant_keeps_its_high_priority_reserve_under_a_flood(app_id, redis_url):
    big = tenant_budget(app_id, redis_url)
    small = [tenant_budget(app_id, redis_url) for _ in range(SMALL)]
    big.reset()
    for budget in small:
        budget.wait_for(1, priority="high")
    greedy(big, priority="low")
    greedy(big, priority="high")  # even the big tenant's own security writes leave theirs
    for budget in small:
        greedy(budget, priority="low")
        assert greedy(budget, priority="high") >= 420 // (SMALL + 1) - 399 // (SMALL + 1)
    big.reset()


def test_a_tenant_that_burst_alone_keeps_its_part_of_the_reserve_when_others_arrive(
    app_id, redis_url
):
    # 2,000 per window (1,900 bulk): alone, the big tenant's bind takes all 1,900. Then four
    # tenants arrive: shares of 400 (380 bulk, 20 of reserve) each.
    limits = (WriteLimit("app+tenant", 5000, 60.0, "t"), WriteLimit("app", 2000, 60.0, "t"))
    big = tenant_budget(app_id, redis_url, limits=limits)
    small = [tenant_budget(app_id, redis_url, limits=limits) for _ in range(4)]
    big.reset()
    assert greedy(big) == 1900
    for budget in small:
        budget.wait_for(1, priority="low")
    # Their bulk shares wait for the burst to leave the window; the big tenant's password
    # pushes need not: it has its own 20 of the reserve, and no more ...
    assert greedy(big, priority="high") == 20
    assert greedy(big) == 0
    # ... while the other tenants keep theirs: 4 x 20.
    for budget in small:
        budget.take(1, priority="high")  # each of them at once (Throttled if not)
    assert sum(greedy(budget, priority="high") for budget in small) == 80 - 4
    big.reset()


def test_many_writers_at_once_never_exceed_the_window_and_small_ones_never_wait():
    """Real Redis, one thread per worker: 4 for the big tenant, one per small tenant,
    all at once. The Lua script is atomic, so no interleaving breaks the shares."""
    app_id = f"app-{uuid.uuid4()}"
    big_id = f"t-{uuid.uuid4()}"
    big = [tenant_budget(app_id, REDIS_URL, tenant_id=big_id) for _ in range(4)]
    small = [tenant_budget(app_id, REDIS_URL) for _ in range(SMALL)]
    big[0].reset()
    for budget in small:
        budget.wait_for(1)
    start = threading.Barrier(len(big) + len(small))
    granted: dict[int, int] = {}
    refused: list[int] = []

    def flood(index: int, budget: WriteBudget) -> None:
        start.wait()
        granted[index] = greedy(budget)

    def small_writer(index: int, budget: WriteBudget) -> None:
        start.wait()
        for _ in range(399 // (SMALL + 1)):
            try:
                budget.take(1, priority="low")
            except Throttled:
                refused.append(index)

    threads = [threading.Thread(target=flood, args=(i, b)) for i, b in enumerate(big)]
    threads += [threading.Thread(target=small_writer, args=(i, b)) for i, b in enumerate(small)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert refused == []
    assert sum(granted.values()) == 399 - SMALL * (399 // (SMALL + 1))
    assert big[0].store.used(1) == 399
    big[0].reset()


def test_a_deployment_may_lower_its_application_wide_quota_but_never_raise_it():
    lowered = write_limits(app_writes=7000)
    assert [(w.scope, w.writes) for w in lowered] == [
        ("app+tenant", 3000),
        ("tenant", 18000),
        ("app", 7000),
    ]
    assert "M365_APP_WRITE_QUOTA" in lowered[2].source
    assert write_limits() == WRITE_LIMITS
    for bad in (0, 70001):
        with pytest.raises(ValueError, match="M365_APP_WRITE_QUOTA must be between 1 and"):
            write_limits(app_writes=bad)


def test_a_tenants_each_share_is_capped_by_what_its_own_documented_limits_allow():
    budget = WriteBudget(tenant_id="t", app_id="a", redis_url="")
    # 3,000 per 150 s allow at most 6,000 in the application's 5 min window
    assert budget.store.fairness.cap == 6000 and budget.store.fairness.window == 3
