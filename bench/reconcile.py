"""Reconcile at 50,000 bound users (P5): what one reconcile costs in Graph requests and
seconds with nothing changed, and with 100 accounts drifted in Microsoft 365; plus, as
a reference, a reconcile that lists every user.

    .venv/bin/python bench/reconcile.py [--users 50000] [--drifted 100] [--rounds 5]
                                        [--groups 500] [--groups-drifted 20]

The groups case (`--groups 0` skips it) binds N security groups of 5 bound members
each, syncs them into graphsim, then measures a reconcile with nothing changed and one
after `--groups-drifted` groups were changed in Microsoft 365 (half renamed, half given
an extra member), and the engine's corrections.

It uses a dedicated PostgreSQL database (`stratus_bench_reconcile`, dropped and
migrated afresh; DATABASE_URL overrides it, its name must contain "bench") and its own
graphsim on a free port. graphsim generates the tenant's users itself (`users=N` at
tenant creation); Stratus's users and bindings are bulk-created from what graphsim
holds, as if Stratus had provisioned them. The reconcile and the engine's corrections
run in this process, as a worker would run them; requests are counted by graphsim.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._stack import bench_database_url  # noqa: E402

DATABASE_URL = bench_database_url("reconcile")


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def setup_django(sim, app) -> None:
    from bench._stack import django_against_graphsim

    django_against_graphsim(database_url=DATABASE_URL, sim=sim, app=app)


def seed(sim, app, users: int) -> tuple:
    """graphsim's tenant with N generated users, and the same users bound in Stratus."""
    from directory import services as directory_services
    from m365bridge.capabilities import APPLICATION_PERMISSIONS
    from m365bridge.models import Tenant, TenantDomain
    from tests.support.seeding import users_bound_as_in_microsoft

    domain = f"bench-{secrets.token_hex(4)}.example"
    started = time.monotonic()
    created = sim.control.create_tenant(
        display_name="Bench",
        domains=[domain],
        users=users,
        seed=7,
        skus=[{"skuPartNumber": "SPE_E3", "seats": users}],
    )
    tid = created["id"]
    sim.control.grant(
        tid,
        app["clientId"],
        application_permissions=APPLICATION_PERMISSIONS,
        directory_roles=["User Administrator"],
    )
    graphsim_seconds = time.monotonic() - started
    accounts = [u for u in sim.control.users(tid) if u["userPrincipalName"].endswith(domain)]
    say(f"graphsim: {len(accounts):,} users generated in {graphsim_seconds:.1f} s")

    started = time.monotonic()
    org, owner = directory_services.organization_signup(
        name="Bench",
        email=f"owner@{domain}",
        password="Bench-Owner-Passw0rd!",
        first_name="Owner",
        last_name="Bench",
    )
    tenant = Tenant.objects.create(
        organization=org,
        microsoft_tenant_id=tid,
        display_name="Bench",
        mode=Tenant.APPLICATION,
        connected_by=owner,
    )
    TenantDomain.objects.create(tenant=tenant, name=domain, is_default=True)
    bound = users_bound_as_in_microsoft(organization=org, tenant=tenant, accounts=accounts)
    say(
        f"Stratus: {len(bound):,} users and bindings bulk-created in "
        f"{time.monotonic() - started:.1f} s"
    )
    return tenant, tid, accounts, graphsim_seconds


def counted(sim, tid, work):
    """Run `work()`; return (its result, Graph requests, writes, seconds), by graphsim."""
    before = sim.control.counters(tid)
    started = time.monotonic()
    result = work()
    seconds = time.monotonic() - started
    after = sim.control.counters(tid)
    items = after["batchItems"] - before["batchItems"]
    requests = after["requests"] - before["requests"] - items  # HTTP requests
    writes = after["writes"] - before["writes"]
    return result, requests, writes, seconds


def groups_case(sim, tid, tenant, args, run_reconcile) -> tuple[list, bool]:
    """N bound groups synced into graphsim; reconciles with nothing changed and with
    some drifted in Microsoft 365, and the engine's corrections."""
    from directory.models import Group
    from m365bridge.models import GroupBinding, UserBinding
    from m365bridge.sync import runner
    from m365bridge.tenants import tenant_graph_session

    members = list(
        UserBinding.objects.filter(tenant=tenant, bound=True, known_enabled=True)
        .select_related("user")
        .order_by("pk")[: args.groups * 5]
    )
    started = time.monotonic()
    groups = Group.objects.bulk_create(
        [
            Group(organization=tenant.organization, name=f"Bench group {i}")
            for i in range(args.groups)
        ]
    )
    through = Group.members.through
    through.objects.bulk_create(
        [
            through(group_id=g.pk, user_id=members[(i * 5 + k) % len(members)].user_id)
            for i, g in enumerate(groups)
            for k in range(5)
        ],
        ignore_conflicts=True,
    )
    GroupBinding.objects.bulk_create(
        [GroupBinding(organization=tenant.organization, tenant=tenant, group=g) for g in groups]
    )
    synced = runner.tenant_sync(tenant_id=tenant.pk, time_limit=900)
    bound = GroupBinding.objects.filter(tenant=tenant).exclude(microsoft_id="").count()
    say(f"{bound} groups created in graphsim in {time.monotonic() - started:.1f} s ({synced})")
    first, first_requests, _, first_seconds = counted(sim, tid, run_reconcile)  # lists groups

    quiet = []
    for _ in range(args.rounds):
        run, requests, writes, seconds = counted(sim, tid, run_reconcile)
        assert run.outcome == "succeeded" and writes == 0, run.note
        quiet.append((requests, seconds, run.corrected))
    quiet_requests = max(r for r, _, _ in quiet)
    quiet_seconds = statistics.median(s for _, s, _ in quiet)
    quiet_corrected = max(c for _, _, c in quiet)

    drifted = list(GroupBinding.objects.filter(tenant=tenant).order_by("pk"))
    drifted = drifted[:: max(1, len(drifted) // args.groups_drifted)][: args.groups_drifted]
    outsider = members[-1].microsoft_id
    with tenant_graph_session(tenant=tenant, budget=False) as client:
        for i, binding in enumerate(drifted):
            if i % 2:
                client.patch(f"/groups/{binding.microsoft_id}", {"displayName": "Renamed there"})
            else:
                client.post(
                    f"/groups/{binding.microsoft_id}/members/$ref",
                    {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{outsider}"},
                )
    run, drift_requests, _, drift_seconds = counted(sim, tid, run_reconcile)
    _, apply_requests, apply_writes, apply_seconds = counted(
        sim, tid, lambda: runner.tenant_sync(tenant_id=tenant.pk, time_limit=300)
    )
    after, _, _, _ = counted(sim, tid, run_reconcile)
    n = len(drifted)
    rows = [
        (f"groups: {bound} bound, first reconcile listing them: requests", first_requests, ""),
        ("groups: first reconcile: seconds", f"{first_seconds:.2f}", ""),
        ("groups (a) nothing changed: requests per reconcile", quiet_requests, "<= 4"),
        ("groups (a) nothing changed: seconds (median)", f"{quiet_seconds:.3f}", "< 1"),
        ("groups (a) nothing changed: marked for correction", quiet_corrected, "== 0"),
        (
            f"groups (b) {n} drifted: reconcile requests / seconds",
            f"{drift_requests} / {drift_seconds:.3f}",
            "",
        ),
        (f"groups (b) {n} drifted: marked for correction", run.corrected, f"== {n}"),
        (
            "groups (b) engine: requests / writes",
            f"{apply_requests} / {apply_writes}",
            f"writes == {n}",
        ),
        ("groups (b) engine: seconds", f"{apply_seconds:.2f}", ""),
        ("groups (b) next reconcile: marked for correction", after.corrected, "== 0"),
    ]
    ok = (
        bound == args.groups
        and quiet_requests <= 4
        and quiet_seconds < 1
        and quiet_corrected == 0
        and run.corrected == n
        and apply_writes == n
        and after.corrected == 0
    )
    return rows, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--drifted", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--groups-drifted", type=int, default=20)
    args = parser.parse_args()

    from graphsim.testing import running_graphsim

    with running_graphsim() as sim:
        app = sim.control.register_app(
            display_name="Stratus bench",
            secret=f"bench-{secrets.token_urlsafe(16)}",
            application_permissions=["User.ReadWrite.All"],
        )
        setup_django(sim, app)
        from audit.models import Event
        from m365bridge.graph.tenant import tenant_graph
        from m365bridge.sync import reconcile, runner

        tenant, tid, accounts, graphsim_seconds = seed(sim, app, args.users)

        def run_reconcile():
            return reconcile.tenant_reconcile(tenant_id=tenant.pk)

        # Fetch the token first (kept in the tenant's MSAL cache, as in production) so
        # the figures are of reconciles, not of signing in.
        tenant_graph(tenant=tenant, budget=False).get("organization")

        # Reference: a reconcile that lists every user (the first run, and the fallback
        # after an expired delta link).
        run, full_requests, _, full_seconds = counted(sim, tid, run_reconcile)
        assert run.outcome == "succeeded" and run.kind == "full", run.note
        assert run.corrected == 0, f"{run.corrected} false drifts on the full read"
        say(f"full read: {run.read:,} users, {full_requests} requests, {full_seconds:.2f} s")

        # (a) nothing changed.
        quiet = []
        for _ in range(args.rounds):
            run, requests, writes, seconds = counted(sim, tid, run_reconcile)
            assert run.outcome == "succeeded" and run.corrected == 0 and writes == 0
            quiet.append((requests, seconds))
        quiet_requests = max(r for r, _ in quiet)
        quiet_seconds = statistics.median(s for _, s in quiet)

        # (b) drift made by an admin in Microsoft 365: jobs changed, some accounts blocked.
        enabled = [a for a in accounts if a.get("accountEnabled")]
        step = max(1, len(enabled) // args.drifted)
        drifted = enabled[::step][: args.drifted]
        blocked = {a["id"] for a in drifted[: args.drifted // 10]}
        started = time.monotonic()
        for a in drifted:
            if a["id"] in blocked:
                sim.control.admin_block(tid, a["id"])
            else:
                sim.control.admin_update_user(tid, a["id"], jobTitle="Changed in Microsoft")
        say(
            f"drifted {len(drifted)} accounts through graphsim's control API in "
            f"{time.monotonic() - started:.1f} s"
        )
        events_before = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        run, drift_requests, drift_read_writes, drift_seconds = counted(sim, tid, run_reconcile)
        assert run.outcome == "succeeded", run.note
        sync_result, apply_requests, apply_writes, apply_seconds = counted(
            sim, tid, lambda: runner.tenant_sync(tenant_id=tenant.pk, time_limit=300)
        )
        remote = {u["id"]: u for u in sim.control.users(tid)}
        still_drifted = [
            a["id"]
            for a in drifted
            if remote[a["id"]]["jobTitle"] == "Changed in Microsoft"
            or remote[a["id"]]["accountEnabled"] is False
        ]
        new_events = Event.objects.filter(pk__gt=events_before, details__reason="drift").count()
        after, again_requests, _, again_seconds = counted(sim, tid, run_reconcile)
        group_rows, groups_ok = [], True
        if args.groups:
            group_rows, groups_ok = groups_case(sim, tid, tenant, args, run_reconcile)

    rows = [
        ("(a) nothing changed: requests per reconcile", quiet_requests, "<= 3"),
        ("(a) nothing changed: seconds per reconcile (median)", f"{quiet_seconds:.3f}", "< 1"),
        (f"(b) {len(drifted)} drifted: reconcile requests", drift_requests, "few"),
        (f"(b) {len(drifted)} drifted: reconcile seconds", f"{drift_seconds:.3f}", ""),
        (
            f"(b) {len(drifted)} drifted: bindings marked for correction",
            run.corrected,
            f"== {len(drifted)}",
        ),
        ("(b) engine: Graph HTTP requests ($batch of 20)", apply_requests, ""),
        ("(b) engine: writes", apply_writes, f"== {len(drifted)}"),
        ("(b) engine: seconds (includes the write budget's pacing)", f"{apply_seconds:.2f}", ""),
        ('(b) correction events ("reason": "drift")', new_events, f"== {len(drifted)}"),
        ("(b) accounts still drifted afterwards", len(still_drifted), "== 0"),
        (
            "(b) next reconcile (reads back Stratus's own writes): requests / seconds",
            f"{again_requests} / {again_seconds:.3f}",
            f"corrected {after.corrected} (== 0)",
        ),
        ("reference: reconcile listing every user: requests", full_requests, ""),
        ("reference: reconcile listing every user: seconds", f"{full_seconds:.2f}", ""),
        (f"seed: graphsim generating {args.users:,} users, seconds", f"{graphsim_seconds:.1f}", ""),
        *group_rows,
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\nReconcile at {args.users:,} bound users (graphsim over HTTPS, PostgreSQL)\n")
    print(f"{'measure'.ljust(width)}  {'value':>14}  target")
    for label, value, target in rows:
        print(f"{label.ljust(width)}  {str(value):>14}  {target}")
    ok = (
        quiet_requests <= 3
        and quiet_seconds < 1
        and run.corrected == len(drifted)
        and apply_writes == len(drifted)
        and not still_drifted
        and after.corrected == 0
        and new_events == len(drifted)
        and groups_ok
    )
    print(f"\n{'all targets met' if ok else 'TARGETS MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
