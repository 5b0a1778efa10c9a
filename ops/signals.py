"""Celery and Graph hooks: task metrics and log context, Graph request counting."""

from django.conf import settings

from . import context, metrics

# Tasks whose first argument is a Stratus tenant id: their log lines name the tenant.
TENANT_TASKS = {"workers.tasks.m365_sync_tenant", "workers.tasks.m365_reconcile_tenant"}


def task_prerun(sender=None, task_id=None, task=None, args=None, **kwargs):
    context.clear()
    context.set_field("request_id", task_id)
    if task is not None and task.name in TENANT_TASKS and args:
        context.set_field("tenant", args[0])
    metrics.task_started(task_id)


def task_postrun(sender=None, task_id=None, task=None, state=None, **kwargs):
    metrics.task_finished(task_id, task.name if task is not None else "unknown", state)
    context.clear()


def worker_init(**kwargs):
    if settings.METRICS_WORKER_PORT:
        metrics.worker_metrics_serve(settings.METRICS_WORKER_PORT)


def graph_response(*, tenant_id, method, status, seconds, headers) -> None:
    """Count the exchange, and let the next log lines name Microsoft's request id."""
    metrics.graph_response_observed(
        tenant_id=tenant_id, method=method, status=status, seconds=seconds, headers=headers
    )
    request_id = headers.get("request-id", "") if headers else ""
    if request_id:
        context.set_field("ms_request_id", request_id)


def connect() -> None:
    from celery import signals

    from m365bridge.graph import client

    signals.task_prerun.connect(task_prerun, weak=False)
    signals.task_postrun.connect(task_postrun, weak=False)
    signals.worker_init.connect(worker_init, weak=False)
    if graph_response not in client.response_observers:
        client.response_observers.append(graph_response)
