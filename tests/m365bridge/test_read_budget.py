"""The resource-unit budget: every request's documented cost is taken from the tenant's
shared sliding windows before it leaves, so reads wait for budget instead of meeting
Microsoft's 429 (graphsim enforces the same limit over HTTPS, with the real MSAL
client)."""

import os
import threading
import uuid

import pytest

from m365bridge.graph import BatchRequest, Throttled
from m365bridge.graph.reads import (
    APP_RU_LIMIT,
    RU_LIMITS,
    ReadBudget,
    batch_units,
    request_units,
    tenant_size,
)

from .test_graph_client import ROLES, make_client

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
SCALE = 2  # graphsim's resource-unit window is 5 s: 3,500 units per 5 s for a small tenant


def test_the_limits_and_costs_are_microsofts_documented_ones():
    # graph-facts §5.2 (learn.microsoft.com/graph/throttling-limits)
    assert {size: (r.units, r.seconds) for size, r in RU_LIMITS.items()} == {
        "small": (3500, 10.0),
        "medium": (5000, 10.0),
        "large": (8000, 10.0),
    }
    assert (APP_RU_LIMIT.units, APP_RU_LIMIT.seconds) == (150000, 20.0)
    assert [tenant_size(n) for n in (None, 0, 49, 50, 500, 501)] == [
        "small",
        "small",
        "small",
        "medium",
        "medium",
        "large",
    ]
    assert request_units("GET", "users") == 2
    assert request_units("GET", "users", {"$select": "id"}) == 1
    assert request_units("GET", "users/abc") == 1
    assert request_units("GET", "groups/g1/members") == 3
    assert request_units("GET", "groups/g1/transitiveMembers", {"$expand": "x"}) == 6
    assert request_units("GET", "subscribedSkus") == 3
    assert request_units("GET", "groups/g1/members?$top=5") == 2  # $top under 20
    assert request_units("GET", "users/abc?$select=id&$top=5") == 1  # never below 1
    assert request_units("POST", "directoryObjects/getByIds") == 3
    assert request_units("PATCH", "users/abc") == 1
    next_link = "https://graph.microsoft.com/v1.0/users?$skiptoken=X&$select=id,mail"
    assert request_units("GET", next_link) == 1
    items = [{"method": "GET", "url": "/users"}, {"method": "POST", "url": "/users"}]
    assert batch_units(items) == 3


def test_an_unknown_size_is_refused():
    with pytest.raises(ValueError, match="size must be one of"):
        ReadBudget(tenant_id="t", size="huge")


@pytest.fixture
def throttled_tenant(graphsim_server, stratus_app):
    """A small tenant, throttled as Microsoft does, at time scale 2; one group of 30."""
    created = graphsim_server.control.create_tenant(
        display_name="Reads",
        users=30,
        groups=1,
        domains=[f"reads-{uuid.uuid4().hex[:8]}.example"],
        throttling=True,
        size="small",
        time_scale=SCALE,
    )
    graphsim_server.control.grant(
        created["id"], stratus_app["clientId"], application_permissions=ROLES
    )
    return created["id"]


def expensive_reads(client, group_id: str, batches: int, threads: int = 3) -> None:
    """$batches of 20 transitive-member reads (5 units each: 100 per $batch) from
    several threads at once, as fast as the client lets them go."""
    requests_ = [
        BatchRequest(id=str(i), method="GET", url=f"/groups/{group_id}/transitiveMembers")
        for i in range(20)
    ]

    def reader(count: int) -> None:
        for _ in range(count):
            for result in client.batch(requests_):
                assert result.ok, result.error
                assert int(result.headers["x-ms-resource-unit"]) == 5  # what the table says

    workers = [threading.Thread(target=reader, args=(batches // threads,)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def test_reads_wait_for_resource_units_and_never_meet_a_429(
    graphsim_server, config, throttled_tenant
):
    control = graphsim_server.control
    budget = ReadBudget(
        tenant_id=throttled_tenant,
        app_id=config.client_id,
        redis_url=REDIS_URL,
        size="small",
        time_scale=SCALE,
    )
    budget.reset()
    client = make_client(config, throttled_tenant)
    client.read_budget = budget
    group_id = client.get("groups")["value"][0]["id"]
    before = control.counters(throttled_tenant)

    expensive_reads(client, group_id, batches=48)  # 4,800 units: more than one window

    after = control.counters(throttled_tenant)
    assert after["throttled"] == before["throttled"]
    assert after["resourceUnits"] - before["resourceUnits"] >= 4800
    budget.reset()


def test_without_the_budget_the_same_reads_are_throttled(graphsim_server, config, throttled_tenant):
    """The control for the test above: graphsim does enforce the limit it waits for."""
    control = graphsim_server.control
    client = make_client(config, throttled_tenant)
    group_id = client.get("groups")["value"][0]["id"]
    before = control.counters(throttled_tenant)

    expensive_reads(client, group_id, batches=48)

    assert control.counters(throttled_tenant)["throttled"] > before["throttled"]


def test_what_microsoft_says_a_request_cost_beyond_the_table_is_counted_too():
    budget = ReadBudget(tenant_id=f"t-{uuid.uuid4()}", redis_url=REDIS_URL)
    budget.reset()
    budget.take(1)
    budget.charged(1, "5")  # x-ms-resource-unit: 5
    budget.charged(1, "1")
    budget.charged(1, "not a number")
    assert budget.store.used(0) == 5
    budget.reset()


def test_a_429_for_resource_units_holds_every_request_to_the_tenant():
    tenant_id = f"t-{uuid.uuid4()}"
    one = ReadBudget(tenant_id=tenant_id, redis_url=REDIS_URL, max_wait=0.0)
    other_worker = ReadBudget(tenant_id=tenant_id, redis_url=REDIS_URL, max_wait=0.0)
    one.reset()
    one.hold(5.0)
    with pytest.raises(Throttled) as raised:
        other_worker.take(1)
    assert raised.value.code == "read_budget" and raised.value.retry_after > 4
    one.reset()


def test_a_write_held_for_resource_units_takes_no_write_quota(config, throttled_tenant):
    from m365bridge.graph.budget import WriteBudget

    client = make_client(config, throttled_tenant)
    client.read_budget = ReadBudget(tenant_id=throttled_tenant, redis_url=REDIS_URL, max_wait=0.0)
    client.budget = WriteBudget(
        tenant_id=throttled_tenant, app_id=config.client_id, redis_url=REDIS_URL, max_wait=0.0
    )
    client.budget.reset()
    client.read_budget.reset()
    client.read_budget.hold(5.0)  # a 429 for resource units, seen by another worker
    with pytest.raises(Throttled) as raised:
        client.post("users", {"displayName": "Held"})
    assert raised.value.code == "read_budget"
    assert client.budget.store.used(0) == 0  # reserved last: nothing counted, nothing lost
    client.read_budget.reset()
    client.budget.reset()
