"""Prometheus metrics (prometheus-client).

Counters and histograms are kept by the process that sees the event: web requests in
the web processes, tasks and Graph requests wherever they run. With several processes
(gunicorn workers, Celery's prefork pool) set PROMETHEUS_MULTIPROC_DIR to an empty
folder per machine: prometheus-client's multiprocess mode then adds up every process's
files at scrape time. Gauges of state (pending bindings, reconcile, write budget,
webhook backlog) are not kept in any process: `StateCollector` reads them from the
database and Redis at scrape time, so they are right whichever process is scraped and
need no multiprocess mode. The web's /metrics serves both; a worker machine serves its
own counters on METRICS_WORKER_PORT."""

import hmac
import logging
import os
import threading
import time

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

log = logging.getLogger(__name__)

HTTP_REQUEST_SECONDS = Histogram(
    "stratus_http_request_duration_seconds",
    "Time to answer a web request, by view (URL name), method and status.",
    ["view", "method", "status"],
)
CELERY_TASKS = Counter(
    "stratus_celery_tasks", "Celery tasks run, by task and final state.", ["task", "state"]
)
CELERY_TASK_SECONDS = Histogram(
    "stratus_celery_task_duration_seconds",
    "Time a Celery task ran, by task.",
    ["task"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
GRAPH_REQUESTS = Counter(
    "stratus_graph_requests",
    "HTTP exchanges with Microsoft Graph, by method and status (0: no answer).",
    ["method", "status"],
)
GRAPH_THROTTLED = Counter(
    "stratus_graph_throttled", "429 answers from Microsoft Graph, by Entra tenant.", ["tenant"]
)


# --- recording ----------------------------------------------------------------------------
def graph_response_observed(*, tenant_id, method, status, seconds, headers) -> None:
    GRAPH_REQUESTS.labels(method=method, status=str(status)).inc()
    if status == 429:
        GRAPH_THROTTLED.labels(tenant=str(tenant_id)).inc()


_task_started: dict[str, float] = {}


def task_started(task_id: str) -> None:
    _task_started[task_id] = time.monotonic()


def task_finished(task_id: str, task_name: str, state: str) -> None:
    started = _task_started.pop(task_id, None)
    CELERY_TASKS.labels(task=task_name, state=state or "UNKNOWN").inc()
    if started is not None:
        CELERY_TASK_SECONDS.labels(task=task_name).observe(time.monotonic() - started)


# --- state read at scrape time --------------------------------------------------------------
class StateCollector:
    """Gauges computed from the database and Redis when Prometheus scrapes."""

    def collect(self):
        now = timezone.now()
        yield from _pending_bindings(now)
        yield from _reconcile()
        yield from _write_budget()
        yield from _webhook_backlog(now)


def _pending_bindings(now):
    from django.db.models import Count, Min

    from m365bridge.models import GroupBinding, UserBinding

    pending = GaugeMetricFamily(
        "stratus_m365_pending_bindings",
        "Bindings whose change is not yet in Microsoft 365, by tenant and kind.",
        labels=["tenant", "kind"],
    )
    oldest = GaugeMetricFamily(
        "stratus_m365_oldest_pending_binding_age_seconds",
        "Age of the oldest change not yet in Microsoft 365, by tenant.",
        labels=["tenant"],
    )
    oldest_by_tenant: dict[str, float] = {}
    for kind, model in (("user", UserBinding), ("group", GroupBinding)):
        rows = (
            model.objects.filter(needs_sync=True)
            .values("tenant_id")
            .annotate(count=Count("id"), since=Min("dirty_since"))
        )
        for row in rows:
            tenant = str(row["tenant_id"])
            pending.add_metric([tenant, kind], row["count"])
            if row["since"] is not None:
                age = max(0.0, (now - row["since"]).total_seconds())
                oldest_by_tenant[tenant] = max(age, oldest_by_tenant.get(tenant, 0.0))
    for tenant, age in oldest_by_tenant.items():
        oldest.add_metric([tenant], age)
    yield pending
    yield oldest


def _reconcile():
    from django.db.models import Sum

    from m365bridge.models import SyncRun

    last_seconds = GaugeMetricFamily(
        "stratus_m365_reconcile_last_duration_seconds",
        "How long the last finished reconcile of each tenant took.",
        labels=["tenant"],
    )
    last_corrected = GaugeMetricFamily(
        "stratus_m365_reconcile_last_corrections",
        "Bindings the last finished reconcile of each tenant sent for correction.",
        labels=["tenant"],
    )
    corrected = CounterMetricFamily(
        "stratus_m365_reconcile_corrections",
        "Bindings sent for correction by reconcile runs on record, by tenant.",
        labels=["tenant"],
    )
    finished = SyncRun.objects.filter(ended_at__isnull=False)
    for row in finished.values("tenant_id").annotate(total=Sum("corrected")):
        corrected.add_metric([str(row["tenant_id"])], row["total"] or 0)
    latest = finished.order_by("tenant_id", "-started_at").values(
        "tenant_id", "started_at", "ended_at", "corrected"
    )
    seen = set()
    for run in latest.iterator():
        if run["tenant_id"] in seen:
            continue
        seen.add(run["tenant_id"])
        tenant = str(run["tenant_id"])
        last_seconds.add_metric([tenant], (run["ended_at"] - run["started_at"]).total_seconds())
        last_corrected.add_metric([tenant], run["corrected"])
    yield last_seconds
    yield last_corrected
    yield corrected


def _write_budget():
    from m365bridge.graph import budget
    from m365bridge.models import Tenant

    used = GaugeMetricFamily(
        "stratus_graph_write_budget_used_ratio",
        "Share of each tenant's shared Graph write budget in use now (above 1: writers "
        "are waiting).",
        labels=["tenant"],
    )
    if not settings.REDIS_URL:
        yield used  # the budget lives in each process without Redis: nothing shared
        return
    tenants = list(
        Tenant.objects.exclude(status="deauthorized").values_list("pk", "microsoft_tenant_id")
    )
    for pk, microsoft_id in tenants:
        share = budget.WriteBudget(
            tenant_id=microsoft_id,
            app_id=settings.M365_CLIENT_ID,
            redis_url=settings.REDIS_URL,
            time_scale=settings.M365_GRAPH_TIME_SCALE,
            limits=budget.write_limits(app_writes=settings.M365_APP_WRITE_QUOTA),
        ).used_share()
        used.add_metric([str(pk)], share)
    yield used


def _webhook_backlog(now):
    from webhooks import selectors

    backlog = selectors.backlog()
    pending = GaugeMetricFamily(
        "stratus_webhook_backlog", "Webhook deliveries waiting to be delivered."
    )
    pending.add_metric([], backlog["count"])
    yield pending
    oldest = GaugeMetricFamily(
        "stratus_webhook_oldest_pending_age_seconds",
        "Age of the oldest webhook delivery still waiting.",
    )
    since = backlog["oldest"]
    oldest.add_metric([], max(0.0, (now - since).total_seconds()) if since else 0.0)
    yield oldest


# --- exposition ----------------------------------------------------------------------------
class _ThisProcess:
    """The default registry's metrics, as one collector of another registry."""

    def collect(self):
        yield from REGISTRY.collect()


def process_registry() -> CollectorRegistry:
    """This process's counters, or every process's on the machine in multiprocess mode."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    return registry


def authorized(authorization: str) -> tuple[bool, int]:
    """May this Authorization header read the metrics? (yes, 200) or (no, status)."""
    token = settings.METRICS_TOKEN
    if not token:
        return (False, 403) if settings.PRODUCTION else (True, 200)
    given = authorization.removeprefix("Bearer ").strip() if authorization else ""
    if given and hmac.compare_digest(given.encode(), token.encode()):
        return True, 200
    return False, 401


def metrics_view(request) -> HttpResponse:
    allowed, status = authorized(request.headers.get("Authorization", ""))
    if not allowed:
        response = HttpResponse(status=status)
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = process_registry()
    registry.register(StateCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def worker_metrics_app(environ, start_response):
    """The WSGI app a worker machine serves on METRICS_WORKER_PORT: its task and Graph
    counters, behind the same token."""
    allowed, status = authorized(environ.get("HTTP_AUTHORIZATION", ""))
    if not allowed:
        start_response(f"{status} {'Unauthorized' if status == 401 else 'Forbidden'}", [])
        return [b""]
    body = generate_latest(process_registry())
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
    return [body]


def worker_metrics_serve(port: int) -> None:
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("0.0.0.0", port, worker_metrics_app, handler_class=QuietHandler)  # noqa: S104
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("worker metrics on port %s", port)
