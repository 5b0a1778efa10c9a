"""With a real `celery worker` process (its own Redis, the test database): binding a
user creates the Microsoft 365 account within seconds, and a password set in Stratus
reaches Microsoft, with nothing but committed rows and a task message in between."""

import time

import pytest
from django.db import connection

from audit.models import Event
from directory import services as directory_services
from m365bridge import services
from m365bridge.capabilities import APPLICATION_PERMISSIONS
from m365bridge.models import UserBinding
from tests.support.broker import celery_broker
from tests.support.processes import ProcessSet, database_url, stratus_env, wait_for

from .conftest import unique_domain
from .factories import TenantDomainFactory, TenantFactory
from .provisioning import EMPLOYEE_PASSWORD, account, can_sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_stack(settings, m365, stratus_app):
    with ProcessSet() as procs:
        redis = procs.redis()
        settings.REDIS_URL = redis.url()
        env = stratus_env(
            database_url=database_url(connection.settings_dict),
            redis_url=redis.url(),
            sim=m365,
            app=stratus_app,
            encryption_keys=settings.FIELD_ENCRYPTION_KEYS,
        )
        with celery_broker(redis.url()):
            yield procs, procs.worker(env)


def test_a_running_worker_creates_the_account_and_pushes_the_password_within_seconds(
    worker_stack, m365, stratus_app, acme, alice
):
    procs, _ = worker_stack
    domain = unique_domain()
    created = m365.control.create_tenant(display_name="Contoso", domains=[domain])
    m365.control.grant(
        created["id"],
        stratus_app["clientId"],
        application_permissions=APPLICATION_PERMISSIONS,
        directory_roles=["User Administrator"],
    )
    tenant = TenantFactory(organization=acme, microsoft_tenant_id=created["id"])
    TenantDomainFactory(tenant=tenant, name=domain, is_default=True)
    ms = {
        "id": created["id"],
        "control": m365.control,
        "sim": m365,
        "client_id": stratus_app["clientId"],
    }
    user = directory_services.user_create(
        actor=alice,
        organization=acme,
        email=f"wes@{domain}",
        first_name="Wes",
        send_activation=False,
    )

    started = time.monotonic()
    services.user_bind(actor=alice, tenant=tenant, user=user)
    wait_for(
        lambda: UserBinding.objects.get(user=user).state == "provisioned",
        timeout=30,
        what="the account to be created",
        describe=procs.logs,
    )
    assert time.monotonic() - started < 10
    assert account(ms, user.email)["accountEnabled"] is True

    directory_services.user_set_password(
        actor=user, user=user, password=EMPLOYEE_PASSWORD, source="portal"
    )
    wait_for(
        lambda: UserBinding.objects.get(user=user).password_pushed_at is not None,
        timeout=30,
        what="the password push",
        describe=procs.logs,
    )
    assert can_sign_in(ms, user.email, EMPLOYEE_PASSWORD)
    assert Event.objects.filter(type="user_create_provision").count() == 1
    assert Event.objects.filter(type="user_password_update_provision").count() == 1
