"""/metrics: behind its token, request latency by view, task counts and durations,
and the state gauges read from the database and Redis at scrape time."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from directory import services as directory
from m365bridge.graph import WriteBudget
from m365bridge.models import SyncRun, UserBinding
from ops import metrics
from tests.m365bridge.factories import tenant_row
from webhooks import services as webhooks

TOKEN = "metrics-token-0123456789"


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def scrape() -> dict:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        samples = {}
        for family in text_string_to_metric_families(response.content.decode()):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    return scrape


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.parametrize(
    ("header", "status"), [(None, 401), ("Bearer wrong-token-0000", 401), (f"Bearer {TOKEN}", 200)]
)
def test_metrics_want_the_bearer_token(client, db, settings, header, status):
    settings.METRICS_TOKEN = TOKEN
    kwargs = {"HTTP_AUTHORIZATION": header} if header else {}
    assert client.get("/metrics", **kwargs).status_code == status


def test_production_refuses_metrics_when_no_token_is_set(client, db, settings):
    settings.METRICS_TOKEN = ""
    settings.PRODUCTION = True
    assert client.get("/metrics").status_code == 403


def test_request_latency_is_recorded_by_view_not_by_path(client, db, scrape):
    before = value(
        scrape(),
        "stratus_http_request_duration_seconds_count",
        view="console:login",
        method="GET",
        status="200",
    )
    client.get("/console/sign-in/")
    client.get(f"/no-such-page-{uuid.uuid4().hex}/")
    samples = scrape()
    count = value(
        samples,
        "stratus_http_request_duration_seconds_count",
        view="console:login",
        method="GET",
        status="200",
    )
    assert count == before + 1
    assert not [key for key in samples if "no-such-page" in str(key)]
    assert value(
        samples,
        "stratus_http_request_duration_seconds_count",
        view="unmatched",
        method="GET",
        status="404",
    )


def test_celery_tasks_are_counted_with_their_duration(db, scrape):
    from workers.tasks import webhook_sweep

    name = "workers.tasks.webhook_sweep"
    before = value(scrape(), "stratus_celery_tasks_total", task=name, state="SUCCESS")
    webhook_sweep.apply()
    samples = scrape()
    assert value(samples, "stratus_celery_tasks_total", task=name, state="SUCCESS") == before + 1
    assert value(samples, "stratus_celery_task_duration_seconds_count", task=name) >= 1


def test_pending_bindings_and_the_age_of_the_oldest_per_tenant(acme, alice, scrape):
    tenant = tenant_row(acme, "contoso.example")
    for n, minutes in enumerate((5, 30)):
        user = directory.user_create(actor=alice, organization=acme, email=f"p{n}@acme.example")
        UserBinding.objects.create(
            tenant=tenant,
            user=user,
            organization=acme,
            dirty_since=timezone.now() - timedelta(minutes=minutes),
        )
    samples = scrape()
    t = str(tenant.pk)
    assert value(samples, "stratus_m365_pending_bindings", tenant=t, kind="user") == 2
    age = value(samples, "stratus_m365_oldest_pending_binding_age_seconds", tenant=t)
    assert 30 * 60 <= age < 31 * 60


def test_reconcile_duration_and_corrections_per_tenant(acme, scrape):
    tenant = tenant_row(acme, "fabrikam.example")
    start = timezone.now() - timedelta(hours=1)
    for offset, seconds, corrected in ((0, 4, 2), (600, 9, 3)):
        began = start + timedelta(seconds=offset)
        SyncRun.objects.create(
            organization=acme,
            tenant=tenant,
            outcome=SyncRun.SUCCEEDED,
            started_at=began,
            ended_at=began + timedelta(seconds=seconds),
            corrected=corrected,
        )
    samples = scrape()
    t = str(tenant.pk)
    assert value(samples, "stratus_m365_reconcile_last_duration_seconds", tenant=t) == 9
    assert value(samples, "stratus_m365_reconcile_last_corrections", tenant=t) == 3
    assert value(samples, "stratus_m365_reconcile_corrections_total", tenant=t) == 5


def test_the_write_budget_use_is_read_from_the_shared_windows(acme, scrape, settings):
    tenant = tenant_row(acme, "budget.example")
    budget = WriteBudget(
        tenant_id=tenant.microsoft_tenant_id,
        app_id=settings.M365_CLIENT_ID,
        redis_url=settings.REDIS_URL,
        time_scale=settings.M365_GRAPH_TIME_SCALE,
    )
    budget.reset()
    budget.take(1500)  # half of the 3,000 writes the app+tenant window allows
    used = value(scrape(), "stratus_graph_write_budget_used_ratio", tenant=str(tenant.pk))
    assert used == 0.5
    budget.reset()


def test_webhook_backlog_and_its_oldest_age(acme, alice, scrape):
    webhooks.endpoint_create(actor=alice, organization=acme, url="http://127.0.0.1:9/down")
    directory.user_create(actor=alice, organization=acme, email="w@acme.example")
    samples = scrape()
    assert value(samples, "stratus_webhook_backlog") >= 2  # webhook_create and user_create
    assert value(samples, "stratus_webhook_oldest_pending_age_seconds") >= 0


def test_a_worker_machine_serves_its_counters_behind_the_same_token(settings):
    settings.METRICS_TOKEN = TOKEN
    statuses = []

    def call(header):
        environ = {"HTTP_AUTHORIZATION": header} if header else {}
        body = b"".join(metrics.worker_metrics_app(environ, lambda s, h: statuses.append(s)))
        return statuses[-1], body

    assert call(None)[0].startswith("401")
    status, body = call(f"Bearer {TOKEN}")
    assert status == "200 OK"
    assert b"# TYPE stratus_celery_tasks_total counter" in body
    assert b"stratus_webhook_backlog" not in body  # state gauges are the web's alone
