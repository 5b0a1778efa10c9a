"""graphsim records the most writes it accepted in any sliding window (per app+tenant,
per tenant and per application across tenants), and models the application-wide write
quota (graph-facts §5.2)."""

from __future__ import annotations

import time
from types import SimpleNamespace

from graphsim import throttle
from graphsim.store import Tenant


def simulator_state() -> SimpleNamespace:
    """The application-wide part of graphsim's state, nothing else."""
    return SimpleNamespace(
        app_write_window={}, app_write_most={}, app_ru_window={}, app_write_limits={}
    )


def throttled_tenant(index: int, size: str = "large") -> Tenant:
    return Tenant(id=f"t{index}", info={"settings": {"throttling": True, "size": size}})


def patches(user_id: str, count: int, priority: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if priority:
        headers["x-ms-throttle-priority"] = priority
    return {
        "requests": [
            {
                "id": str(i),
                "method": "PATCH",
                "url": f"/users/{user_id}",
                "headers": headers,
                "body": {"jobTitle": f"t{i}"},
            }
            for i in range(count)
        ]
    }


def test_the_most_writes_in_any_window_counts_only_writes_inside_one_window(make_world):
    world = make_world()
    user = world.create_user("counted")  # one write
    world.post("$batch", json=patches(user["id"], 20))
    world.get(f"users/{user['id']}")  # reads are not writes
    windows = world.sim.control.write_windows(world.tid)
    app = windows["applications"][world.app["clientId"]]
    assert app == {"windowSeconds": 150.0, "limit": 3000, "mostWrites": 21}
    assert windows["tenant"] == {"windowSeconds": 300.0, "limit": 18000, "mostWrites": 21}

    world.sim.control.set_time_scale(world.tid, 1000)  # 150 s -> 0.15 s; records restart
    world.post("$batch", json=patches(user["id"], 20))
    time.sleep(0.4)
    world.post("$batch", json=patches(user["id"], 20))
    windows = world.sim.control.write_windows(world.tid)
    # 40 writes, but never more than 20 of them within one 0.15 s interval
    assert windows["applications"][world.app["clientId"]]["mostWrites"] == 20
    assert windows["tenant"]["windowSeconds"] == 0.3 and windows["tenant"]["mostWrites"] >= 20


def test_the_application_window_counts_writes_in_every_tenant(make_world, sim):
    first = make_world()
    second = make_world()
    # one application in both tenants: graphsim's token for the first app, granted in both
    app = first.app["clientId"]
    sim.control.grant(second.tid, app, application_permissions=["User.ReadWrite.All"])
    token = sim.control.app_token(second.tid, app, first.app["secret"])
    sim.control.reset_app_write_windows(app)
    one = first.create_user("one")
    two = second.create_user("two")  # second.app: another application
    first.post("$batch", json=patches(one["id"], 10))
    second.post("$batch", json=patches(two["id"], 5), token=token)
    assert sim.control.app_write_windows(app) == {
        "windowSeconds": 300.0,
        "limit": 70000,
        "mostWrites": 16,  # the first tenant's create, its 10 PATCHes and the 5
    }
    assert sim.control.write_windows(second.tid)["applications"][app]["mostWrites"] == 5


def test_the_throttle_priority_of_writes_is_recorded_and_changes_no_limit(make_world):
    world = make_world()
    user = world.create_user("prio")
    world.post("$batch", json=patches(user["id"], 3, priority="high"))
    world.post("$batch", json=patches(user["id"], 2, priority="low"))
    world.patch(
        f"users/{user['id']}", json={"jobTitle": "x"}, headers={"x-ms-throttle-priority": "bogus"}
    )
    assert world.sim.control.write_windows(world.tid)["priorities"] == {
        "none": 2,  # the create (no header) and the unknown value
        "high": 3,
        "low": 2,
    }


def test_the_application_wide_write_quota_is_70000_per_5_minutes_across_tenants():
    state = simulator_state()

    tenants = [throttled_tenant(i) for i in range(24)]
    for index, each in enumerate(tenants[:23]):  # 3,000 each: the app+tenant quota
        for _ in range(3000):
            assert throttle.charge(state, each, "app", 1, 1).retry_after is None, index
        assert throttle.charge(state, each, "app", 1, 1).retry_after is not None
    last = tenants[23]
    for _ in range(1000):  # 69,000 + 1,000: the application's quota
        assert throttle.charge(state, last, "app", 1, 1).retry_after is None
    refused = throttle.charge(state, last, "app", 1, 1)
    assert refused.retry_after is not None and 0 < refused.retry_after <= 300
    assert refused.information == "WriteLimitExceeded"
    assert throttle.charge(state, last, "other-app", 1, 1).retry_after is None
    assert throttle.charge(state, last, "app", 1, 0).retry_after is None  # reads pass
    assert state.app_write_most["app"].most == 70000


def test_the_tenant_wide_write_quota_is_18000_per_5_minutes_across_applications():
    state = simulator_state()
    tenant = throttled_tenant(0)
    for app in range(6):  # 3,000 each: the app+tenant quota
        for _ in range(3000):
            assert throttle.charge(state, tenant, f"app{app}", 1, 1).retry_after is None
    refused = throttle.charge(state, tenant, "app6", 1, 1)  # a seventh application
    assert refused.retry_after is not None and refused.information == "WriteLimitExceeded"
    assert tenant.runtime.tenant_write_most.most == 18000


def test_the_application_wide_resource_units_are_150000_per_20_s_across_tenants():
    state = simulator_state()
    tenants = [throttled_tenant(i) for i in range(19)]
    for each in tenants[:18]:  # 8,000 each (large tenants): 144,000
        assert throttle.charge(state, each, "app", 8000, 0).retry_after is None
    assert throttle.charge(state, tenants[18], "app", 6000, 0).retry_after is None
    refused = throttle.charge(state, tenants[18], "app", 1, 0)  # the tenant has 2,000 left
    assert refused.retry_after is not None and 0 < refused.retry_after <= 20
    assert refused.information == "ResourceUnitLimitExceeded"
    assert throttle.charge(state, tenants[18], "other-app", 1, 0).retry_after is None


def test_a_scaled_run_may_lower_the_application_wide_write_limit(make_world, sim):
    world = make_world()
    app = world.app["clientId"]
    sim.control.set_throttling(world.tid, enabled=True, size="large")
    user = world.create_user("lowered")
    assert sim.control.set_app_write_limit(app, 15)["limit"] == 15  # its record restarts
    world.post("$batch", json=patches(user["id"], 15))
    response = world.patch(f"users/{user['id']}", json={"jobTitle": "one too many"})
    assert response.status_code == 429
    assert response.headers["x-ms-throttle-information"] == "WriteLimitExceeded"
    assert sim.control.app_write_windows(app) == {
        "windowSeconds": 300.0,
        "limit": 15,
        "mostWrites": 15,
    }
    assert sim.control.set_app_write_limit(app, None)["limit"] == 70000
    assert world.patch(f"users/{user['id']}", json={"jobTitle": "ok"}).status_code == 204
    for bad in (0, 70001, "many"):
        refused = sim.control.session.put(
            f"{sim.control.base_url}/_graphsim/apps/{app}/write-limit", json={"writes": bad}
        )
        assert refused.status_code == 400 and "writes must be" in refused.text
