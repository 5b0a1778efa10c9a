"""Redis unreachable: workers pause sending (never send unbudgeted) and the console says
so, from the pause the worker recorded in the database; the banner goes when a worker
reaches Redis again. A real Redis server is stopped and started for it."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from m365bridge import services
from m365bridge.models import SendingPause, UserBinding
from tests.support.processes import ProcessSet

from .provisioning import employee, sync

pytest_plugins = ["tests.m365bridge.provisioning"]

BANNER = "Sending to Microsoft 365 is paused:</strong> the write budget's Redis is unreachable"


@pytest.fixture
def budget_redis(settings):
    with ProcessSet() as processes:
        redis = processes.redis()
        settings.REDIS_URL = redis.url()
        yield redis


def pages(client, tenant) -> list[str]:
    urls = [
        reverse("console:dashboard"),
        reverse("m365:tenants"),
        reverse("m365:tenant", args=[tenant.pk]),
    ]
    return [client.get(url).content.decode() for url in urls]


def test_the_console_shows_a_banner_while_the_budgets_redis_is_unreachable(
    acme, alice, ms, tenant, client, budget_redis
):
    client.force_login(alice)
    dana = employee(acme, alice, ms, "dana")
    services.user_bind(actor=alice, tenant=tenant, user=dana)
    assert not any(BANNER in page for page in pages(client, tenant))

    budget_redis.stop()
    result = sync(tenant)

    assert result.applied == 0  # nothing went out without the budget
    assert UserBinding.objects.get(user=dana).needs_sync
    pause = SendingPause.objects.get()
    assert pause.detail == "ConnectionError" and "redis://" not in str(pause)
    assert all(BANNER in page for page in pages(client, tenant))

    budget_redis.start()
    assert sync(tenant).applied == 1

    assert not SendingPause.objects.exists()
    assert not any(BANNER in page for page in pages(client, tenant))


def test_a_pause_no_worker_confirmed_for_a_minute_is_not_shown(acme, alice, client, tenant):
    client.force_login(alice)
    old = timezone.now() - timedelta(minutes=2)
    SendingPause.objects.create(reason=SendingPause.BUDGET_REDIS, since=old, seen_at=old)
    assert not any(BANNER in page for page in pages(client, tenant))
    SendingPause.objects.update(seen_at=timezone.now())
    assert all(BANNER in page for page in pages(client, tenant))
