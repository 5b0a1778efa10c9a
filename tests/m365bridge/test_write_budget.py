"""The per-tenant write budget lives in Redis, so every process shares one bucket."""

import os
import uuid

import pytest

from m365bridge.graph.budget import WriteBudget, slowdown_factor
from m365bridge.graph.errors import Throttled

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def tenant_id():
    return f"test-{uuid.uuid4()}"


def test_two_budgets_for_one_tenant_share_the_same_tokens(tenant_id):
    waits = []
    first = WriteBudget(
        tenant_id=tenant_id, redis_url=REDIS_URL, rate=10, capacity=5, sleep=waits.append
    )
    second = WriteBudget(
        tenant_id=tenant_id, redis_url=REDIS_URL, rate=10, capacity=5, sleep=waits.append
    )
    for _ in range(3):
        first.take()
    second.take(2)
    assert waits == []
    second.take()  # the sixth write: the bucket is empty for both
    assert len(waits) == 1 and 0.05 < waits[0] <= 0.11
    first.reset()


def test_a_wait_beyond_the_cap_raises_throttled_without_reserving(tenant_id):
    budget = WriteBudget(
        tenant_id=tenant_id,
        redis_url=REDIS_URL,
        rate=1,
        capacity=1,
        max_wait=0.5,
        sleep=lambda s: None,
    )
    budget.take()
    with pytest.raises(Throttled) as raised:
        budget.take(5)
    assert raised.value.retry_after > 0.5
    budget.reset()


def test_reported_throttle_percentage_slows_the_refill(tenant_id):
    waits = []
    budget = WriteBudget(
        tenant_id=tenant_id, redis_url=REDIS_URL, rate=10, capacity=1, sleep=waits.append
    )
    budget.take()
    budget.take()
    normal = waits[-1]
    budget.reset()
    budget.report_usage(1.0)  # Microsoft: 100 % of a limit used
    budget.take()
    budget.take()
    assert waits[-1] > 1.5 * normal
    assert slowdown_factor(0.5) == 1.0 and slowdown_factor(80) < 1.0
    budget.reset()
