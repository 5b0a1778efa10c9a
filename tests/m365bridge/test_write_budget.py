"""The write budget: Microsoft's write quotas as sliding windows in Redis, shared by every
process, that let a burst use a whole window but never exceed it in any interval."""

import logging
import os
import threading
import time
import uuid

import pytest

from m365bridge.graph.budget import (
    RESERVE_SHARE,
    TRANSIT_ALLOWANCE,
    WRITE_LIMITS,
    WriteBudget,
    WriteLimit,
    slowdown_factor,
)
from m365bridge.graph.errors import Throttled

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def tenant_id():
    return f"test-{uuid.uuid4()}"


@pytest.fixture(params=["redis", "local"])
def redis_url(request):
    """Every rule holds with Redis (deployed) and in one process (development)."""
    return REDIS_URL if request.param == "redis" else ""


def sleeper(waits: list):
    """Sleeps for real (the budget then tries again) and remembers each wait."""

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    return sleep


def tight(writes: int, seconds: float, scope: str = "app+tenant") -> WriteLimit:
    return WriteLimit(scope, writes, seconds, "test")


def budget_of(tenant_id, redis_url, *limits, app_id="app-1", **kwargs):
    kwargs.setdefault("transit", 0.0)
    budget = WriteBudget(
        tenant_id=tenant_id, app_id=app_id, redis_url=redis_url, limits=limits, **kwargs
    )
    budget.reset()
    return budget


def test_a_burst_uses_the_whole_window_at_once_then_waits_for_it_to_pass(tenant_id, redis_url):
    waits = []
    budget = budget_of(tenant_id, redis_url, tight(100, 1.0), sleep=sleeper(waits))
    for _ in range(5):
        budget.take(19)  # 95 writes: the window less the high-priority reserve
    assert waits == []
    budget.take(1)
    assert len(waits) == 1 and 0.9 < waits[0] <= 1.0 + 1.0 / 150
    budget.reset()


def test_two_budgets_for_one_tenant_share_the_same_window(tenant_id, redis_url):
    waits = []
    first = budget_of(tenant_id, redis_url, tight(20, 0.5), sleep=sleeper(waits))
    second = WriteBudget(
        tenant_id=tenant_id,
        app_id="app-1",
        redis_url=redis_url,
        limits=(tight(20, 0.5),),
        transit=0.0,
        sleep=sleeper(waits),
    )
    first.take(10)
    second.take(9)
    assert waits == []
    second.take(1)  # 20 of 20, but 1 of them is the reserve: bulk waits
    assert len(waits) == 1
    first.reset()


def test_no_interval_of_the_window_length_ever_holds_more_than_the_limit(tenant_id, redis_url):
    """Three threads write as fast as the budget allows for about three windows."""
    limit, seconds = 40, 0.6
    budget = budget_of(tenant_id, redis_url, tight(limit, seconds))
    stamps: list[float] = []
    lock = threading.Lock()

    def writer(size: int) -> None:
        mine = WriteBudget(
            tenant_id=tenant_id,
            app_id="app-1",
            redis_url=redis_url,
            limits=(tight(limit, seconds),),
            transit=0.0,
        )
        end = time.time() + 3 * seconds
        while time.time() < end:
            mine.take(size)
            with lock:
                stamps.extend([time.time()] * size)

    threads = [threading.Thread(target=writer, args=(size,)) for size in (1, 3, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    worst = max(sum(1 for t in stamps if start <= t < start + seconds) for start in stamps)
    # Stamps are taken just after each reservation; a few ms of scheduling between the
    # two can only move a write later, which the slack of one write of 5 covers.
    assert worst <= limit + 5, worst
    assert len(stamps) >= 3 * limit * (1 - RESERVE_SHARE) - 5  # and it did burst
    budget.reset()


def test_high_priority_writes_keep_a_reserve_bulk_work_cannot_take(tenant_id, redis_url):
    budget = budget_of(tenant_id, redis_url, tight(100, 60.0), max_wait=0.5)
    budget.take(95, priority="low")
    with pytest.raises(Throttled):
        budget.take(1, priority="low")
    with pytest.raises(Throttled):
        budget.take(1)  # normal writes are bulk work too
    assert budget.take(5, priority="high") == 0.0  # a block, a password: at once
    with pytest.raises(Throttled):
        budget.take(1, priority="high")
    budget.reset()


def test_a_wait_beyond_the_cap_raises_throttled_without_counting(tenant_id, redis_url):
    budget = budget_of(tenant_id, redis_url, tight(10, 60.0), max_wait=0.5)
    budget.take(9)
    with pytest.raises(Throttled) as raised:
        budget.take(5)
    assert raised.value.retry_after > 0.5 and raised.value.code == "write_budget"
    assert budget.take(1, priority="high") == 0.0  # the refused 5 were not counted
    budget.reset()


def test_the_application_wide_window_is_shared_by_all_tenants(redis_url):
    app = f"app-{uuid.uuid4()}"
    limits = (tight(100, 60.0), tight(20, 60.0, scope="app"))
    one = budget_of(f"t-{uuid.uuid4()}", redis_url, *limits, app_id=app, max_wait=0.2)
    two = budget_of(f"t-{uuid.uuid4()}", redis_url, *limits, app_id=app, max_wait=0.2)
    other_app = budget_of(two.tenant_id, redis_url, *limits, app_id="other", max_wait=0.2)
    one.take(19)
    with pytest.raises(Throttled):
        two.take(1)  # another tenant, the same application: its window is full
    assert other_app.take(19) == 0.0  # another application has its own
    one.reset()
    other_app.reset()


def test_the_tenant_wide_window_counts_every_application(tenant_id, redis_url):
    limits = (tight(100, 60.0), tight(20, 60.0, scope="tenant"))
    one = budget_of(tenant_id, redis_url, *limits, app_id="app-a", max_wait=0.2)
    two = budget_of(tenant_id, redis_url, *limits, app_id="app-b", max_wait=0.2)
    one.take(19)
    with pytest.raises(Throttled):
        two.take(1)
    one.reset()
    two.reset()


def test_a_write_429_holds_every_worker_for_its_retry_after(tenant_id, redis_url):
    waits = []
    budget = budget_of(tenant_id, redis_url, tight(100, 60.0), sleep=sleeper(waits))
    budget.hold(0.3)
    budget.take(1, priority="high")  # even high priority: Microsoft said wait
    assert len(waits) == 1 and 0.2 < waits[0] <= 0.3
    budget.reset()


def test_reported_throttle_percentage_shrinks_what_bulk_work_may_use(tenant_id, redis_url):
    budget = budget_of(tenant_id, redis_url, tight(100, 60.0), max_wait=0.2)
    budget.report_usage(1.0)  # Microsoft: 100 % of a limit used
    with pytest.raises(Throttled):
        budget.take(60)
    budget.take(40)
    assert budget.take(50, priority="high") == 0.0  # security writes keep the whole window
    assert slowdown_factor(0.5) == 1.0 and slowdown_factor(80) < 1.0
    budget.reset()


def test_with_redis_unreachable_writes_pause_with_a_clear_log_line(tenant_id, caplog):
    budget = WriteBudget(tenant_id=tenant_id, redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(Throttled) as raised:
        budget.take(1)
    assert raised.value.code == "write_budget_unavailable" and raised.value.retry_after > 0
    assert any(
        r.levelno == logging.ERROR
        and "Graph writes" in r.getMessage()
        and "paused" in r.getMessage()
        for r in caplog.records
    )


def test_the_limits_are_microsofts_documented_write_quotas():
    # graph-facts §5.2 (learn.microsoft.com/graph/throttling-limits)
    table = {(limit.scope, limit.writes, limit.seconds) for limit in WRITE_LIMITS}
    assert table == {("app+tenant", 3000, 150.0), ("tenant", 18000, 300.0), ("app", 70000, 300.0)}


def test_a_time_scale_shrinks_every_window_by_the_same_factor(tenant_id):
    budget = WriteBudget(tenant_id=tenant_id, redis_url="", time_scale=4)
    assert [w.length for w in budget.windows] == [
        150 / 4 + TRANSIT_ALLOWANCE,
        300 / 4 + TRANSIT_ALLOWANCE,
        300 / 4 + TRANSIT_ALLOWANCE,
    ]


def test_an_unknown_priority_is_refused(tenant_id):
    budget = WriteBudget(tenant_id=tenant_id, redis_url="")
    with pytest.raises(ValueError, match="priority"):
        budget.take(1, priority="urgent")


def test_asking_how_long_writes_would_wait_reserves_nothing(tenant_id, redis_url):
    budget = budget_of(tenant_id, redis_url, tight(100, 60.0), max_wait=0.2)
    budget.take(90, priority="low")
    assert budget.wait_for(5, priority="low") == 0.0
    assert budget.wait_for(10, priority="low") > 50  # beyond the 95 bulk work may use
    assert budget.wait_for(10, priority="high") == 0.0
    budget.take(5, priority="low")  # the questions counted nothing
    budget.reset()
