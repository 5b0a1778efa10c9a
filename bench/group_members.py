"""A security group of 50,000 members bound to a graphsim tenant and synced: the
preview (queries, memory, seconds, Graph writes) and the sync (seconds, requests, each
member sent once), against their targets.

    .venv/bin/python bench/group_members.py [--members 50000] [--time-scale 1000]

The scenario is the suite's (`tests/support/big_group.py`, tested at 2,000 members in
`tests/m365bridge/test_big_group.py`). It uses a dedicated PostgreSQL database
(`stratus_bench_group`, dropped and migrated afresh; BENCH_DATABASE_URL overrides it, its
name must contain "bench") and its own graphsim on a free port. `--time-scale`
compresses Microsoft's write windows (3,000 writes per 150 s per app and tenant) in
Stratus's budget, so the figure is graphsim's and Stratus's speed, not the quota's; the
quota's own floor for these writes is printed alongside.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._stack import bench_database_url  # noqa: E402

DATABASE_URL = bench_database_url("group")

from bench._stack import burst_floor_seconds, django_against_graphsim  # noqa: E402

QUERY_TARGET = 8  # the preview's queries: as many at 50,000 members as at 2,000
MEMORY_TARGET_MIB = 64
SECONDS_PER_1000_TARGET = 10.0  # sync seconds per 1,000 members, quota compressed


def say(message: str) -> None:
    print(message, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--time-scale", type=float, default=1000.0)
    args = parser.parse_args()

    from graphsim.testing import running_graphsim

    with running_graphsim() as sim:
        app = sim.control.register_app(  # granted its permissions when seeded
            display_name="Stratus bench", secret=f"bench-{secrets.token_urlsafe(16)}"
        )
        os.environ["M365_GRAPH_TIME_SCALE"] = str(args.time_scale)
        django_against_graphsim(database_url=DATABASE_URL, sim=sim, app=app)
        from directory import services as directory_services
        from directory.models import User
        from m365bridge.models import GroupBinding
        from m365bridge.sync import intent, runner
        from tests.support.big_group import (
            bind_and_sync,
            measured_preview,
            members_in_microsoft,
            seed_big_group,
        )

        intent.sync_send = runner.sync_send = lambda **kwargs: None  # this process syncs
        org, _ = directory_services.organization_signup(
            name="Bench Corp",
            email="owner@bench-corp.example",
            password="Bench-Passw0rd-42",
            first_name="Owen",
            last_name="Owner",
        )
        owner = User.objects.get(email="owner@bench-corp.example")
        say(f"seeding {args.members:,} users in graphsim and Stratus …")
        big = seed_big_group(
            control=sim.control,
            client_id=app["clientId"],
            organization=org,
            actor=owner,
            members=args.members,
            domain=f"bench-{secrets.token_hex(4)}.example",
        )
        tid = big.microsoft_tenant_id
        writes_before = sim.control.counters(tid)["writes"]
        preview, queries, peak, preview_seconds = measured_preview(big)
        preview_writes = sim.control.counters(tid)["writes"] - writes_before
        counted = preview.totals["members_added"]

        before = sim.control.counters(tid)
        sent, seconds = bind_and_sync(big, time_limit=3600)
        after = sim.control.counters(tid)
        binding = GroupBinding.objects.get(tenant=big.tenant, group=big.group)
        in_microsoft = members_in_microsoft(big, binding.microsoft_id)
        again, _ = bind_and_sync(big)
        once = len(set(sent.refs + sent.at_create))
        writes = len(sent.refs) + 1
        requests = (
            after["requests"] - before["requests"] - (after["batchItems"] - before["batchItems"])
        )

    per_1000 = seconds / args.members * 1000
    batches = math.ceil(len(sent.refs) / 20)
    rows = [
        (
            "preview: members counted / named",
            f"{counted:,} / {len(preview.items[0].members_added)}",
            f"{args.members:,} / 100",
        ),
        ("preview: queries", str(queries), f"<= {QUERY_TARGET}"),
        ("preview: peak Python memory", f"{peak / 2**20:.1f} MiB", f"< {MEMORY_TARGET_MIB} MiB"),
        ("preview: seconds; Graph writes", f"{preview_seconds:.2f} s; {preview_writes}", "—; 0"),
        (
            "sync: members at create / by $ref",
            f"{len(sent.at_create)} / {len(sent.refs):,}",
            f"20 / {args.members - 20:,}",
        ),
        (
            "sync: $ref $batch requests (20 each)",
            f"{batches:,}",
            f"{math.ceil((args.members - 20) / 20):,}",
        ),
        ("sync: HTTP requests to Graph", f"{requests:,}", "about the batches + a few"),
        (
            "sync: distinct members sent / in Microsoft",
            f"{once:,} / {in_microsoft:,}",
            f"{args.members:,} / {args.members:,}",
        ),
        (
            "sync: seconds (per 1,000 members)",
            f"{seconds:.1f} s ({per_1000:.1f} s)",
            f"<= {SECONDS_PER_1000_TARGET} s per 1,000",
        ),
        (
            "quota floor at 1x (3,000 writes / 150 s)",
            f"{burst_floor_seconds(writes, 1.0):.0f} s",
            "reference",
        ),
        (
            "second sync: writes",
            str(len(again.refs) + len(again.other_writes) + bool(again.create)),
            "0",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    say(f"\n{'measure'.ljust(width)}  value | target")
    for name, value, target in rows:
        say(f"{name.ljust(width)}  {value} | {target}")
    ok = (
        counted == args.members
        and queries <= QUERY_TARGET
        and peak < MEMORY_TARGET_MIB * 2**20
        and preview_writes == 0
        and once == len(sent.refs) + len(sent.at_create) == args.members == in_microsoft
        and not again.refs
    )
    say("\nall correctness targets met" if ok else "\nA CORRECTNESS TARGET WAS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
