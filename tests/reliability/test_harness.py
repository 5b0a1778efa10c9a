"""The process harness itself: what the reliability tests stand on must be trusted."""

import os

import pytest

from tests.support.processes import Timeout, wait_for

pytestmark = pytest.mark.slow


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_private_redis_comes_back_empty_on_the_same_port_after_an_outage(procs):
    import redis

    server = procs.redis()
    client = redis.Redis.from_url(server.url(), socket_timeout=1)
    client.set("kept", "no")
    server.stop()
    assert not server.ping()
    with pytest.raises(redis.ConnectionError):
        client.get("kept")
    server.start()
    assert client.get("kept") is None
    assert server.url().endswith(f":{server.port}/0")


def test_a_worker_runs_tasks_from_this_process_and_sigkill_leaves_no_process(stack):
    worker = stack.worker()
    result = stack.celery.send_task("workers.tasks.password_expiry_run")
    assert result.id
    wait_for(
        lambda: "succeeded" in worker.log_tail(200),
        timeout=30,
        what="the worker to run the task",
        describe=worker.log_tail,
    )
    pid = worker.pid
    worker.kill()
    assert not worker.alive and _gone(pid)
    stack.procs.restart(worker)
    assert worker.alive and worker.pid != pid


def test_wait_for_names_what_it_waited_for():
    with pytest.raises(Timeout, match="the moon"):
        wait_for(
            lambda: False,
            timeout=0.2,
            interval=0.05,
            what="the moon",
            describe=lambda: "still dark",
        )


def test_a_graphsim_tenant_connects_in_application_mode_with_the_password_role(
    transactional_db, m365, stratus_app, acme, alice
):
    from m365bridge.capabilities import USER_ADMIN
    from tests.support.tenants import connect_graphsim_tenant, seed_users

    connected = connect_graphsim_tenant(sim=m365, app=stratus_app, organization=acme, actor=alice)
    tenant = connected.tenant
    assert tenant.status == "connected" and tenant.mode == "application"
    assert connected.domain in tenant.domain_names
    assert USER_ADMIN in tenant.directory_roles
    users = seed_users(organization=acme, domain=connected.domain, count=3)
    assert [u.email for u in users] == [f"u{n:05d}@{connected.domain}" for n in range(3)]
