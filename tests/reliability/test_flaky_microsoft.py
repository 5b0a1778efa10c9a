"""With graphsim failing 10 % of requests with 503/504, timing out another 10 % (the
connection dropped after a wait), and forcing 429s, every change still arrives and each
event is written once: transient failures are retried, never recorded as failures and
never repeated once applied."""

import secrets

import pytest

from audit.models import Event
from directory import services as directory
from directory.models import User
from m365bridge.models import UserBinding
from m365bridge.services import users_bind
from tests.support.processes import wait_for
from tests.support.tenants import connect_graphsim_tenant, seed_users

from .helpers import accounts_in, binding_states, dirty_count, events_of, per_target, sweep_every

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

USERS = 200
CHANGED = 60
FAULTS = {
    "error_rate": 0.10,
    "error_statuses": [503, 504],
    "timeout_rate": 0.10,
    "timeout_seconds": 2,
    "force_429": 8,
    "force_429_retry_after": 1,
}


def test_every_change_arrives_once_through_503s_time_outs_and_429s(stack, acme, alice):
    connected = connect_graphsim_tenant(
        sim=stack.sim, app=stack.app, organization=acme, actor=alice
    )
    tid, domain, tenant = connected.microsoft_id, connected.domain, connected.tenant
    users = seed_users(organization=acme, domain=domain, count=USERS)
    stack.sim.control.set_faults(tid, **FAULTS)
    stack.worker(), stack.worker()
    sweep_every(stack, 2)

    users_bind(actor=alice, tenant=tenant, users=users)
    # Admins keep working while Microsoft misbehaves: attributes and passwords.
    changed = users[:CHANGED]
    for n, user in enumerate(changed):
        user = User.objects.get(pk=user.pk)
        directory.user_update(actor=alice, user=user, job_title=f"Flaky {n}", city="Porto")
        if n % 2:
            directory.user_set_password(
                actor=alice, user=user, password=f"Rw{secrets.token_hex(4)}-Tn{n}!k"
            )
    stack.sim.control.set_faults(
        tid, force_429=8, **{k: v for k, v in FAULTS.items() if k != "force_429"}
    )
    wait_for(
        lambda: dirty_count(tenant) == 0,
        timeout=150,
        what="every change to get through the faults",
        describe=lambda: f"{binding_states(tenant)}\n{stack.procs.logs()}",
    )

    counters = stack.sim.control.counters(tid)
    assert counters["faults"] > 0 and counters["throttled"] > 0, counters
    assert binding_states(tenant) == {UserBinding.PROVISIONED: USERS}

    accounts = {a["userPrincipalName"].lower(): a for a in accounts_in(stack.sim, tid, domain)}
    assert len(accounts) == USERS
    for user in User.objects.filter(pk__in=[u.pk for u in users]):
        account = accounts[user.email]
        assert account["id"] == UserBinding.objects.get(user=user).microsoft_id
        assert account["jobTitle"] == (user.job_title or None)
        assert account["city"] == (user.city or None)
        binding = UserBinding.objects.get(user=user)
        assert binding.password_pushed_version == binding.password_version

    creates = per_target(events_of("user_create_provision"))
    assert len(creates) == USERS and set(creates.values()) == {1}
    # A change made before its create was applied travels with the create; any other
    # is one update (and one password push) after it, never two.
    updates = per_target(events_of("user_update_provision"))
    pushes = per_target(events_of("user_password_update_provision"))
    assert set(updates.values()) <= {1} and set(pushes.values()) <= {1}
    assert not Event.objects.filter(outcome="failure").exists()
    # And every write Microsoft accepted has its event: one create per POST, one update
    # and/or password event per PATCH.
    log = stack.sim.control.request_log(tid, limit=100000)
    posts = [
        r
        for r in log
        if r["method"] == "POST" and r["path"] == "/v1.0/users" and r["status"] == 201
    ]
    patches = [r for r in log if r["method"] == "PATCH" and r["status"] == 204]
    assert len(posts) == USERS
    assert len(patches) == len(set(updates) | set(pushes))
    print(f"graphsim counters: {counters}")
