"""A worker killed with SIGKILL in the middle of a 5,000-user import, then restarted,
leaves exactly 5,000 imported users and 5,000 `user_import` events, and writes nothing
to Microsoft 365.

A SIGKILL runs no handler: the chunk the worker was importing is rolled back by
PostgreSQL (its users, bindings, events and counters commit together), its task message
is not acknowledged, and the job keeps the dead worker's lease until it expires. The
resume (beat's `m365_imports_resume`, every 2 s here) then sends the job again and the
restarted worker carries on with the items still pending. The lease is shortened so the
test fits its time budget.
"""

import pytest

from audit.models import Event
from directory.models import User
from m365bridge import services
from m365bridge.models import ImportJob, MirroredUser, UserBinding
from m365bridge.sync import reconcile
from tests.support.processes import wait_for
from tests.support.tenants import connect_graphsim_tenant

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

USERS = 5000
LEASE = 5


def test_a_worker_killed_mid_import_leaves_exactly_one_user_and_event_per_account(
    stack, acme, alice
):
    stack.env.update(M365_IMPORT_LEASE_SECONDS=str(LEASE))
    connected = connect_graphsim_tenant(
        sim=stack.sim, app=stack.app, organization=acme, actor=alice, users=USERS
    )
    tenant, tid = connected.tenant, connected.microsoft_id
    assert reconcile.tenant_reconcile(tenant_id=tenant.pk).outcome == "succeeded"
    ids = list(
        MirroredUser.objects.filter(
            tenant=tenant, status="new", domain=connected.domain
        ).values_list("microsoft_id", flat=True)
    )
    assert len(ids) == USERS
    writes_before = stack.sim.control.counters(tid)["writes"]
    worker = stack.worker()
    stack.procs.ticker(lambda: stack.celery.send_task("workers.tasks.m365_imports_resume"), 2)

    job = services.import_start(actor=alice, tenant=tenant, microsoft_ids=ids)

    def done() -> int:
        return ImportJob.objects.get(pk=job.pk).done

    for threshold in (1000, 3000):
        wait_for(
            lambda t=threshold: done() >= t,
            timeout=240,
            what=f"{threshold} imported",
            describe=stack.procs.logs,
        )
        worker.kill()
        assert done() < USERS, "the import finished before the worker could be killed"
        stack.procs.restart(worker)

    wait_for(
        lambda: ImportJob.objects.get(pk=job.pk).status == "done",
        timeout=300,
        what="the import to finish",
        describe=lambda: f"{done()} done\n{stack.procs.logs()}",
    )
    job.refresh_from_db()
    assert (job.done, job.imported, job.failed, job.skipped) == (USERS, USERS, 0, 0)
    imported = User.objects.filter(m365_binding__tenant=tenant)
    assert imported.count() == USERS
    assert (
        UserBinding.objects.filter(tenant=tenant).values("microsoft_id").distinct().count() == USERS
    )
    events = Event.objects.filter(type="user_import")
    assert events.count() == USERS and not events.filter(outcome="failure").exists()
    assert events.values("target_id").distinct().count() == USERS
    assert stack.sim.control.counters(tid)["writes"] == writes_before
