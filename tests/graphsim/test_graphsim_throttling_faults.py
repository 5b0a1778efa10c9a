"""Throttling by Microsoft's documented budgets, the time scale, and each injected fault."""

from __future__ import annotations

import time

import pytest
import requests

TOO_MANY = {"code": "TooManyRequests", "message": "Please retry again later."}


def group_body(name: str) -> dict:
    return {
        "displayName": name,
        "mailEnabled": False,
        "mailNickname": name,
        "securityEnabled": True,
    }


def test_new_tenants_are_not_throttled_by_default(world):
    assert world.sim.control.get_tenant(world.tid)["settings"]["throttling"] is False


def test_resource_unit_budget_gives_429_then_recovers_after_retry_after(make_world):
    # A small tenant (< 50 users) has 3,500 RU per 10 s per app; time scale 2 -> 5 s.
    world = make_world(throttling=True, time_scale=2)
    group = world.post("groups", json=group_body("Budget")).json()
    batch = {
        "requests": [
            {"id": str(i), "method": "GET", "url": f"/groups/{group['id']}/transitiveMembers"}
            for i in range(20)
        ]
    }  # 5 RU each
    spent, throttled = 1, None  # the POST above cost 1 RU
    while throttled is None:
        for item in world.post("$batch", json=batch).json()["responses"]:
            if item["status"] == 429:
                throttled = item
                break
            spent += int(item["headers"]["x-ms-resource-unit"])
    assert spent == 3496  # 1 + 699 x 5; one more 5-RU item would exceed 3,500
    assert float(throttled["headers"]["Retry-After"]) <= 5
    assert throttled["headers"]["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"

    direct = world.get(f"groups/{group['id']}/transitiveMembers")
    assert direct.status_code == 429
    error = direct.json()["error"]
    assert {k: error[k] for k in TOO_MANY} == TOO_MANY
    assert error["innerError"]["code"] == "429" and error["innerError"]["status"] == "429"
    assert direct.headers["x-ms-throttle-scope"] == (
        f"Tenant_Application/ReadWrite/{world.app['clientId']}/{world.tid}"
    )
    assert direct.headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"
    retry_after = float(direct.headers["Retry-After"])
    assert 0 < retry_after <= 5
    time.sleep(retry_after + 0.05)
    recovered = world.get(f"groups/{group['id']}/transitiveMembers")
    assert recovered.status_code == 200
    counters = world.sim.control.counters(world.tid)
    assert counters["throttled"] >= 2 and counters["resourceUnits"] >= 3500


def test_write_quota_throttles_writes_while_reads_pass(make_world):
    # 3,000 writes per 150 s per app+tenant; time scale 10 -> 15 s. A large tenant keeps
    # the RU bucket (8,000 per 1 s here) out of the way.
    world = make_world(throttling=True, time_scale=10, size="large")
    user = world.create_user("writer")
    batch = {
        "requests": [
            {
                "id": str(i),
                "method": "PATCH",
                "url": f"/users/{user['id']}",
                "headers": {"Content-Type": "application/json"},
                "body": {"jobTitle": f"t{i}"},
            }
            for i in range(20)
        ]
    }
    writes = 1
    for _ in range(150):
        statuses = [r["status"] for r in world.post("$batch", json=batch).json()["responses"]]
        writes += statuses.count(204)
        if 429 in statuses:
            break
    assert writes == 3000
    blocked = world.patch(f"users/{user['id']}", json={"jobTitle": "late"})
    assert blocked.status_code == 429
    assert blocked.headers["x-ms-throttle-information"] == "WriteLimitExceeded"
    assert float(blocked.headers["Retry-After"]) <= 15
    assert world.get(f"users/{user['id']}").status_code == 200


def test_time_scale_shrinks_retry_after_by_the_same_factor(make_world):
    world = make_world()
    control = world.sim.control
    control.set_faults(world.tid, force_429=1, force_429_retry_after=10)
    assert world.get("organization").headers["Retry-After"] == "10"
    control.set_time_scale(world.tid, 20)
    control.set_faults(world.tid, force_429=1, force_429_retry_after=10)
    assert world.get("organization").headers["Retry-After"] == "0.5"


def test_forced_429s_affect_only_the_next_n_requests(world):
    world.sim.control.set_faults(world.tid, force_429=2)
    statuses = [world.get("organization").status_code for _ in range(3)]
    assert statuses == [429, 429, 200]
    assert world.sim.control.counters(world.tid)["faults"] == 2


def test_latency_with_jitter(world):
    world.sim.control.set_faults(world.tid, latency_ms=200, jitter_ms=100)
    started = time.monotonic()
    assert world.get("organization").status_code == 200
    assert 0.2 <= time.monotonic() - started < 1.5


@pytest.mark.parametrize("status, code", [(503, "serviceNotAvailable"), (504, "GatewayTimeout")])
def test_server_errors_at_a_rate(world, status, code):
    world.sim.control.set_faults(world.tid, error_rate=1.0, error_statuses=[status])
    response = world.get("organization")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    world.sim.control.set_faults(world.tid, error_rate=0.0)
    assert world.get("organization").status_code == 200


def test_dropped_connections(world):
    world.sim.control.set_faults(world.tid, drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        world.get("organization")
    world.sim.control.clear_faults(world.tid)
    assert world.get("organization").status_code == 200


def test_time_outs(world):
    world.sim.control.set_faults(world.tid, timeout_rate=1.0, timeout_seconds=1.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        world.session.get(
            world.url("organization"),
            timeout=0.4,
            headers={"Authorization": f"Bearer {world.token}"},
        )
    world.sim.control.clear_faults(world.tid)
    assert world.get("organization").status_code == 200


def test_replication_lag_hides_new_objects_for_n_reads(world):
    world.sim.control.set_faults(world.tid, replication_lag_reads=2)
    user = world.create_user("laggy")
    statuses = [world.get(f"users/{user['id']}").status_code for _ in range(3)]
    assert statuses == [404, 404, 200]
    group = world.post("groups", json=group_body("Laggy")).json()
    assert world.get(f"groups/{group['id']}").status_code == 404


def test_request_log_records_method_path_status_units_and_app(world):
    world.get("users?$select=id")
    world.get("subscribedSkus")
    rows = world.sim.control.request_log(world.tid)
    graph = [r for r in rows if r["path"].startswith("/v1.0/")]
    assert [(r["method"], r["path"], r["status"], r["resourceUnits"]) for r in graph[-2:]] == [
        ("GET", "/v1.0/users?$select=id", 200, 1),
        ("GET", "/v1.0/subscribedSkus", 200, 3),
    ]
    assert graph[-1]["appId"] == world.app["clientId"] and graph[-1]["ms"] >= 0
