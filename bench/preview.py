"""Preview (dry run) of binding 5,000 users whose accounts already exist in Microsoft 365
(each one a take-over with old → new values): how long the preview takes against the
Graph reads it needs, sent on their own (target: within 1.2×), and that it writes nothing.

    .venv/bin/python bench/preview.py [--users 5000] [--latency-ms 40] [--rounds 3]

It uses a dedicated PostgreSQL database (`stratus_bench_preview`, dropped and migrated
afresh; BENCH_DATABASE_URL overrides it, its name must contain "bench") and its own
graphsim on a free port, with `--latency-ms` added to every request. graphsim
generates the accounts; the same users exist in Stratus, not bound yet, and a few of
them changed in Stratus so that the preview has values to overwrite. The reference
("the reads alone") sends the very same `$batch` GETs through the same client.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stratus_bench_preview"
)

from bench.reconcile import counted, say, seed, setup_django  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--latency-ms", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from graphsim.testing import running_graphsim

    with running_graphsim() as sim:
        app = sim.control.register_app(
            display_name="Stratus bench",
            secret=f"bench-{secrets.token_urlsafe(16)}",
            application_permissions=["User.ReadWrite.All"],
        )
        setup_django(sim, app)
        from directory.models import User
        from m365bridge import services
        from m365bridge.graph.tenant import tenant_graph
        from m365bridge.models import UserBinding
        from m365bridge.sync import engine, preview

        tenant, tid, _, _ = seed(sim, app, args.users)
        UserBinding.objects.filter(tenant=tenant).delete()  # the users are not bound yet
        users = list(User.objects.filter(organization=tenant.organization).exclude(role="owner"))
        User.objects.filter(pk__in=[u.pk for u in users[::10]]).update(job_title="Changed")
        users = list(User.objects.filter(pk__in=[u.pk for u in users]).order_by("pk"))
        tenant_graph(tenant=tenant, budget=False).get("organization")  # token cached first
        sim.control.set_faults(tid, latency_ms=args.latency_ms)

        def run_preview():
            return services.users_bind_preview(tenant=tenant, users=users)

        def reads_alone():
            client = tenant_graph(tenant=tenant)
            requests_ = [
                preview.BatchRequest(
                    id=str(i),
                    method="GET",
                    url=f"/users/{u.email}?$select={preview.SELECT}",
                )
                for i, u in enumerate(users)
            ]
            return engine.send(client, requests_)

        previews, references = [], []
        for _ in range(args.rounds):
            result, requests, writes, seconds = counted(sim, tid, run_preview)
            assert writes == 0, f"the preview wrote {writes} times"
            previews.append((result, requests, seconds))
            _, ref_requests, _, ref_seconds = counted(sim, tid, reads_alone)
            references.append((ref_requests, ref_seconds))
        result, requests, _ = previews[-1]
        preview_seconds = statistics.median(s for _, _, s in previews)
        reads_seconds = statistics.median(s for _, s in references)
        ratio = preview_seconds / reads_seconds

    totals = result.totals
    say(f"preview totals: {totals}")
    rows = [
        ("accounts previewed", totals["accounts"], f"= {args.users}"),
        ("take-overs found", totals.get("take_over", 0), f"= {args.users}"),
        ("Graph HTTP requests ($batch of 20 GETs)", requests, f"= {-(-args.users // 20)}"),
        ("writes to Microsoft 365", 0, "= 0"),
        ("reads alone: seconds (median)", f"{reads_seconds:.2f}", ""),
        ("preview: seconds (median)", f"{preview_seconds:.2f}", ""),
        ("preview / reads alone", f"{ratio:.2f}x", "<= 1.20x"),
    ]
    print(f"Preview of a {args.users:,}-user bind, graphsim latency {args.latency_ms} ms")
    for label, value, target in rows:
        print(f"  {label:<44} {value!s:>10}   target {target}")
    ok = ratio <= 1.2 and totals["accounts"] == args.users
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
