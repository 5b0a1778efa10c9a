"""A worker killed with SIGKILL in the middle of a 1,000-user bulk bind, then restarted,
leaves exactly one Microsoft 365 account and one `user_create_provision` event per user.

A SIGKILL runs no handler: the killed worker's task message is gone (acked on receipt),
the bindings it had claimed keep its lease, and a `$batch` Microsoft accepted may never
have been recorded. The sweep must find the work again, the lease must run out, and a
create Microsoft already did must be linked, not repeated. The worker is killed twice,
each time at the moment Microsoft holds accounts it has not recorded yet, and restarted
(as a supervisor would); the sweep runs every 2 s instead of beat's 30 s, and the lease
is shortened so the test fits its time budget.
"""

import pytest

from audit.models import Event
from m365bridge.models import UserBinding
from m365bridge.services import users_bind
from tests.support.processes import wait_for
from tests.support.tenants import connect_graphsim_tenant, seed_users

from .helpers import accounts_in, binding_states, dirty_count, events_of, per_target, sweep_every

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

USERS = 1000
TIME_SCALE = 4  # graphsim's quota windows and Stratus's write budget, both sped up 4x
LEASE = 15  # seconds before a dead worker's claims come free (300 by default)


def test_a_worker_killed_mid_bulk_bind_leaves_exactly_one_account_and_event_per_user(
    stack, acme, alice
):
    stack.env.update(M365_SYNC_LEASE_SECONDS=str(LEASE), M365_GRAPH_TIME_SCALE=str(TIME_SCALE))
    connected = connect_graphsim_tenant(
        sim=stack.sim,
        app=stack.app,
        organization=acme,
        actor=alice,
        throttling=True,
        time_scale=TIME_SCALE,
    )
    tid, domain = connected.microsoft_id, connected.domain
    stack.sim.control.set_faults(tid, latency_ms=40)  # each $batch takes a while
    users = seed_users(organization=acme, domain=domain, count=USERS)
    worker = stack.worker()
    sweep_every(stack, 2)

    results = users_bind(actor=alice, tenant=connected.tenant, users=users)
    assert all(r.ok for r in results)

    def created() -> int:
        return stack.sim.control.counters(tid)["writes"]

    def recorded() -> int:
        return UserBinding.objects.filter(tenant=connected.tenant).exclude(microsoft_id="").count()

    claimed_at_kill = []
    for threshold in (250, 600):
        wait_for(
            lambda t=threshold: created() >= t,
            timeout=90,
            what=f"{threshold} writes reaching graphsim",
            describe=stack.procs.logs,
        )
        # Kill it while Microsoft has accounts the worker has not recorded yet: the
        # replies to its last `$batch` die with it.
        wait_for(
            lambda: created() > recorded(),
            timeout=30,
            interval=0.005,
            what="a $batch accepted by Microsoft and not yet recorded",
        )
        worker.kill()
        claimed_at_kill.append(
            UserBinding.objects.filter(
                tenant=connected.tenant, needs_sync=True, claimed_until__isnull=False
            ).count()
        )
        assert created() < USERS, "the bind finished before the worker could be killed"
        stack.procs.restart(worker)

    wait_for(
        lambda: dirty_count(connected.tenant) == 0,
        timeout=120,
        what="every binding to be applied",
        describe=lambda: (
            f"{binding_states(connected.tenant)}, {created()} writes\n{stack.procs.logs()}"
        ),
    )

    accounts = accounts_in(stack.sim, tid, domain)
    upns = [a["userPrincipalName"].lower() for a in accounts]
    assert len(accounts) == USERS and len(set(upns)) == USERS
    assert set(upns) == {u.email for u in users}
    assert accounts_in(stack.sim, tid, domain, deleted=True) == []

    creates = events_of("user_create_provision")
    assert len(creates) == USERS and all(e.outcome == "success" for e in creates)
    assert set(per_target(creates).values()) == {1}
    assert not Event.objects.filter(outcome="failure").exists()

    bindings = UserBinding.objects.filter(tenant=connected.tenant)
    assert binding_states(connected.tenant) == {UserBinding.PROVISIONED: USERS}
    by_upn = {a["userPrincipalName"].lower(): a["id"] for a in accounts}
    assert all(by_upn[b.user.email] == b.microsoft_id for b in bindings.select_related("user"))
    # The kills really left work behind: bindings still claimed by the dead worker, and
    # accounts Microsoft created whose reply was lost, linked (not duplicated) later.
    assert any(claimed_at_kill), claimed_at_kill
    linked = sum(1 for e in creates if e.details.get("linked_after_lost_reply"))
    assert not any(e.details.get("took_over_existing") for e in creates)
    assert linked > 0
    print(
        f"claimed at each kill: {claimed_at_kill}; creates linked after a lost reply: "
        f"{linked}; graphsim writes: {created()}"
    )
