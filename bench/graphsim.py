"""Throughput of graphsim itself: simple user GETs and user creates over HTTPS.

    .venv/bin/python bench/graphsim.py [--seconds 5] [--threads 4]

Latency faults and throttling are off, so this measures the emulator, which must
never be the bottleneck of Stratus's own benchmarks.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from graphsim.testing import running_graphsim  # noqa: E402

TARGETS = {"GET /users/{id}": 500, "POST /users": 200}
PERMISSIONS = ["User.ReadWrite.All"]


def hammer(sim, token: str, threads: int, seconds: float, make_request) -> float:
    """Run `make_request(session, n)` from several keep-alive sessions; return requests/s."""
    counter = itertools.count()
    done = []
    stop = time.monotonic() + seconds
    failures = []

    def worker():
        session = sim.session()
        session.headers["Authorization"] = f"Bearer {token}"
        count = 0
        while time.monotonic() < stop:
            response = make_request(session, next(counter))
            if response.status_code >= 400:
                failures.append(response.text)
                return
            count += 1
        done.append(count)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.monotonic()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if failures:
        raise SystemExit(f"request failed: {failures[0]}")
    return sum(done) / (time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with running_graphsim() as sim:
        control = sim.control
        tenant = control.create_tenant(display_name="Bench", domains=["bench.example"], users=1000)
        app = control.register_app(display_name="bench")
        control.grant(tenant["id"], app["clientId"], application_permissions=PERMISSIONS)
        token = control.app_token(tenant["id"], app["clientId"], app["secret"])
        ids = [u["id"] for u in control.users(tenant["id"])]
        domain = tenant["defaultDomain"]

        def get_user(session, n):
            return session.get(sim.graph_url(f"users/{ids[n % len(ids)]}"), timeout=30)

        def create_user(session, n):
            alias = f"bench{n}"
            return session.post(
                sim.graph_url("users"),
                timeout=30,
                json={
                    "accountEnabled": True,
                    "displayName": f"Bench {n}",
                    "mailNickname": alias,
                    "userPrincipalName": f"{alias}@{domain}",
                    "passwordProfile": {"password": "xWwvJ]6NMw+bWH-d"},
                },
            )

        results = {
            "GET /users/{id}": hammer(sim, token, args.threads, args.seconds, get_user),
            "POST /users": hammer(sim, token, args.threads, args.seconds, create_user),
        }
    ok = True
    for name, rate in results.items():
        target = TARGETS[name]
        verdict = "OK" if rate >= target else "BELOW TARGET"
        ok &= rate >= target
        print(f"{name:18} {rate:8.0f} requests/s   (target >= {target}/s)  {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
