"""Reads within Microsoft's resource units: several workers reading one small tenant as
fast as they can, with the shared resource-unit budget (`m365bridge/graph/reads.py`)
and without it, against graphsim with Microsoft's documented throttling on.

    .venv/bin/python bench/read_budget.py [--seconds 30] [--threads 4] [--time-scale 1]

Each thread is a worker's Graph client (the real MSAL client, its own token) reading
what a reconcile and an import read: pages of `GET users` (2 units, 1 with `$select`),
and `$batch`es of 20 `GET users/{id}` and `GET groups/{id}/transitiveMembers` (1 and 5
units each). A small tenant (< 50 users) may use 3,500 units per 10 s (graph-facts
§5.2). The budget lives in a private Redis, shared by the threads as by worker
processes. Prints operations, units charged by graphsim, units per second against the
sustained limit, and 429s. Target: no 429 with the budget.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.processes import ProcessSet  # noqa: E402

RU_LIMIT, RU_WINDOW = 3500, 10.0  # small tenant, graph-facts §5.2
ROLES = ["User.ReadWrite.All", "Group.ReadWrite.All", "GroupMember.ReadWrite.All"]


def reader(client, user_ids, group_id, deadline, stats, lock) -> None:
    from m365bridge.graph import BatchRequest

    users = [
        BatchRequest(id=str(i), method="GET", url=f"/users/{u}") for i, u in enumerate(user_ids)
    ]
    members = [
        BatchRequest(id=str(i), method="GET", url=f"/groups/{group_id}/transitiveMembers")
        for i in range(20)
    ]
    n = 0
    while time.monotonic() < deadline:
        if n % 3 == 0:
            done = sum(1 for _ in client.pages("users", params={"$select": "id,mail"}))
        else:
            done = len(client.batch(users if n % 3 == 1 else members))
        with lock:
            stats["operations"] += done
        n += 1


def run(sim, app, tenant_id, *, threads, seconds, budget_url, scale) -> dict:
    from m365bridge.graph import AppOnlyTokens, GraphClient, GraphConfig, MemoryTokenStore
    from m365bridge.graph.reads import ReadBudget

    config = GraphConfig(
        client_id=app["clientId"],
        client_secret=app["secret"],
        login_url=sim.base_url,
        graph_url=sim.base_url,
        ca_bundle=sim.ca_path,
    )

    def client():
        tokens = AppOnlyTokens(config=config, tenant_id=tenant_id, store=MemoryTokenStore())
        budget = None
        if budget_url:
            budget = ReadBudget(
                tenant_id=tenant_id, app_id=app["clientId"], redis_url=budget_url, time_scale=scale
            )
        return GraphClient(config=config, tokens=tokens, read_budget=budget)

    first = client()
    user_ids = [u["id"] for u in first.items("users", params={"$select": "id"})][:20]
    group_id = first.get("groups", params={"$select": "id"})["value"][0]["id"]
    clients = [client() for _ in range(threads)]
    for each in clients:
        each.tokens.token()  # sign in first: the figures are of reads
    if budget_url:
        clients[0].read_budget.reset()
    before = sim.control.counters(tenant_id)
    stats, lock = {"operations": 0}, threading.Lock()
    started = time.monotonic()
    deadline = started + seconds
    pool = [
        threading.Thread(target=reader, args=(c, user_ids, group_id, deadline, stats, lock))
        for c in clients
    ]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall = time.monotonic() - started
    after = sim.control.counters(tenant_id)
    return {
        "wall": wall,
        "operations": stats["operations"],
        "units": after["resourceUnits"] - before["resourceUnits"],
        "throttled": after["throttled"] - before["throttled"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args()
    from graphsim.testing import running_graphsim

    with ProcessSet() as procs, running_graphsim() as sim:
        redis = procs.redis()
        app = sim.control.register_app(
            display_name="Stratus bench",
            secret=f"bench-{secrets.token_urlsafe(16)}",
            application_permissions=ROLES,
        )
        rows = []
        for label, url in (("with the budget", redis.url()), ("without (reference)", "")):
            created = sim.control.create_tenant(
                display_name="Reads",
                domains=[f"reads-{secrets.token_hex(4)}.example"],
                users=40,
                groups=1,
                throttling=True,
                size="small",
                time_scale=args.time_scale,
            )
            sim.control.grant(created["id"], app["clientId"], application_permissions=ROLES)
            result = run(
                sim,
                app,
                created["id"],
                threads=args.threads,
                seconds=args.seconds,
                budget_url=url,
                scale=args.time_scale,
            )
            rows.append((label, result))

    window = RU_WINDOW / args.time_scale
    print()
    print(
        f"Reads of one small tenant by {args.threads} workers for {args.seconds:g} s: graphsim "
        f"throttling on, {RU_LIMIT:,} units per {window:g} s (time scale {args.time_scale:g})"
    )
    print(f"{'':22} {'operations':>10} {'units':>8} {'units/s':>8} {'429s':>6}")
    for label, r in rows:
        print(
            f"{label:22} {r['operations']:10d} {r['units']:8d} {r['units'] / r['wall']:8.0f} "
            f"{r['throttled']:6d}"
        )
    print(
        f"  sustained limit {RU_LIMIT / window:.0f} units/s (a burst may use a whole window); "
        "operations: pages and $batch items read"
    )
    ok = rows[0][1]["throttled"] == 0
    verdict = "OK" if ok else "MISSED"
    print(f"  with the budget: {rows[0][1]['throttled']} 429s   target 0   {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
