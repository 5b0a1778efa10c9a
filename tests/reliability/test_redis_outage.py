"""Redis (broker and write budget) stopped for 30 seconds while admins keep changing
users loses nothing: once it is back, Microsoft 365 equals the directory for every
changed user, and each change's event is written once.

Redis comes back empty (no persistence), so every task sent before or during the outage
is gone; only the durable intent in PostgreSQL and the sweep can bring the changes back.
"""

import secrets
import time
from datetime import UTC, datetime

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

USERS = 30
OUTAGE = 30.0  # seconds, as the issue says


def _graph_time(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def test_redis_down_for_30_seconds_while_admins_change_users_loses_nothing(stack, acme, alice):
    connected = connect_graphsim_tenant(
        sim=stack.sim, app=stack.app, organization=acme, actor=alice
    )
    tid, domain, tenant = connected.microsoft_id, connected.domain, connected.tenant
    users = seed_users(organization=acme, domain=domain, count=USERS)
    stack.worker(), stack.worker()
    sweep_every(stack, 2)
    users_bind(actor=alice, tenant=tenant, users=users)
    wait_for(
        lambda: dirty_count(tenant) == 0,
        timeout=60,
        what="the bind to finish",
        describe=lambda: f"{binding_states(tenant)}\n{stack.procs.logs()}",
    )
    assert binding_states(tenant) == {UserBinding.PROVISIONED: USERS}
    first_event = Event.objects.order_by("-pk").values_list("pk", flat=True).first()

    # The outage: every admin change below commits, and its task cannot be sent.
    stack.redis.stop()
    down_at = time.time()
    changed_attributes, changed_passwords = set(), {}
    for n, user in enumerate(users):
        user = User.objects.get(pk=user.pk)
        if n % 3 in (0, 2):
            directory.user_update(
                actor=alice, user=user, job_title=f"Title {n} (outage)", department="Outage"
            )
            changed_attributes.add(user.pk)
        if n % 3 in (1, 2):
            directory.user_set_password(
                actor=alice, user=user, password=f"Qz{secrets.token_hex(4)}-Lm{n}!x"
            )
            changed_passwords[user.pk] = time.time()
        time.sleep(max(0.0, down_at + (n + 1) * (OUTAGE - 2) / USERS - time.time()))
    assert stack.redis.ping() is False
    time.sleep(max(0.0, down_at + OUTAGE - time.time()))
    stack.redis.start()
    up_at = time.time()

    wait_for(
        lambda: dirty_count(tenant) == 0,
        timeout=90,
        what="every change made during the outage to reach Microsoft 365",
        describe=lambda: f"{binding_states(tenant)}\n{stack.procs.logs()}",
    )

    # Nothing could be applied while Redis was down: recovery did all of it.
    log = stack.sim.control.request_log(tid, limit=100000)
    writes = [row for row in log if row["write"] and row["time"] >= down_at]
    assert writes and min(row["time"] for row in writes) >= up_at

    # Microsoft 365 equals the directory for every changed user.
    accounts = {a["userPrincipalName"].lower(): a for a in accounts_in(stack.sim, tid, domain)}
    for user in User.objects.filter(pk__in=[u.pk for u in users]):
        account = accounts[user.email]
        assert account["jobTitle"] == (user.job_title or None), user.email
        assert account["department"] == (user.department or None), user.email
        binding = UserBinding.objects.get(user=user)
        assert binding.password_pushed_version == binding.password_version
        if user.pk in changed_passwords:
            assert _graph_time(account["lastPasswordChangeDateTime"]) >= int(
                changed_passwords[user.pk]
            )

    # Each change's event, written once (changes to one user between two syncs are one
    # write, so one event of each kind per changed user), and no failure.
    new = {"pk__gt": first_event}
    updates = per_target(events_of("user_update_provision", **new))
    passwords = per_target(events_of("user_password_update_provision", **new))
    assert updates == {str(pk): 1 for pk in changed_attributes}
    assert passwords == {str(pk): 1 for pk in changed_passwords}
    assert not Event.objects.filter(outcome="failure").exists()
    assert not events_of("user_create_provision", **new)
