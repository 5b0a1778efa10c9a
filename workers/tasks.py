"""Celery tasks. Each takes ids, re-fetches, and calls a service."""

from celery import shared_task


@shared_task(acks_late=True)
def password_expiry_run() -> dict:
    """Warn users whose password expires soon and announce expired ones (idempotent)."""
    from directory import lifecycle

    return lifecycle.expiry_run()


@shared_task(acks_late=True)
def account_lifecycle_prune() -> dict:
    """Delete stale sign-in throttle rows and long-expired email links (idempotent)."""
    from directory import lifecycle

    return lifecycle.lifecycle_prune()


@shared_task(acks_late=True, ignore_result=True)
def m365_sync_tenant(tenant_id: int) -> dict:
    """Apply every due Microsoft 365 change of one tenant. Safe to run twice or on two
    workers at once: bindings are claimed, and the outcome is compare-and-set."""
    from m365bridge.sync import runner

    result = runner.tenant_sync(tenant_id=tenant_id)
    return {
        "applied": result.applied,
        "failed": result.failed,
        "retrying": result.retrying,
        "held": result.held,
    }


@shared_task(ignore_result=True)
def m365_sync_sweep() -> list[int]:
    """Send the sync again for tenants whose intent no worker is working on."""
    from m365bridge.sync import runner

    return runner.sweep_due_tenants()


@shared_task(ignore_result=True)
def m365_reconcile_tenant(tenant_id: int, actor_id: int | None = None) -> dict:
    """Read one tenant back from Microsoft 365 and send its drift for correction. A
    second run while one is going on stops at once (the tenant's lease)."""
    from m365bridge.sync import reconcile

    run = reconcile.tenant_reconcile(tenant_id=tenant_id, actor_id=actor_id)
    if run is None:
        return {"outcome": "missing"}
    return {
        "run": run.pk,
        "outcome": run.outcome,
        "read": run.read,
        "corrected": run.corrected,
        "requests": run.requests,
    }


@shared_task(ignore_result=True)
def m365_reconcile_due() -> list[int]:
    """Queue a reconcile for every tenant whose interval has passed."""
    from m365bridge.sync import reconcile

    return reconcile.reconcile_due()


# max_retries=None: the row counts the tries (emails.MAX_ATTEMPTS), so a re-queue by
# the sweep does not start the count afresh.
@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=None)
def email_deliver(self, sent_email_id: int) -> None:
    """Send one logged email; while the mail server fails, try again with backoff (the
    row counts the tries and records the last error). Safe to run twice."""
    from directory import emails

    retry_in = emails.email_deliver(sent_email_id=sent_email_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


@shared_task(ignore_result=True)
def email_sweep() -> list[int]:
    """Queue again the emails still to deliver whose task was lost."""
    from directory import emails

    return emails.email_sweep()


@shared_task(ignore_result=True)
def m365_retained_passwords_prune() -> int:
    """Delete retained passwords whose window has passed (M365_PASSWORD_RETAIN_HOURS)."""
    from m365bridge import services

    return services.retained_passwords_prune()


@shared_task(ignore_result=True)
def webhook_deliver(endpoint_id: int) -> dict:
    """Send one webhook endpoint's pending deliveries in order. Safe to run twice or on
    two workers at once: the endpoint is claimed, the second run does nothing."""
    from webhooks import services

    run = services.endpoint_deliver(endpoint_id=endpoint_id)
    return {"claimed": run.claimed, "delivered": run.delivered, "gave_up": run.gave_up}


@shared_task(ignore_result=True)
def webhook_sweep() -> list[int]:
    """Queue delivery for endpoints whose retry is due or whose task was lost."""
    from webhooks import services

    return services.endpoints_due()


@shared_task(acks_late=True, ignore_result=True)
def webhook_prune() -> int:
    """Forget finished webhook deliveries past the log's retention (idempotent)."""
    from webhooks import services

    return services.deliveries_prune()


def m365_sync_health_check() -> dict[int, str]:
    """Tell owners (once) when a tenant's sync has stopped, and again when it recovers."""
    from m365bridge import health

    return health.tenants_health_check()


@shared_task(acks_late=True, ignore_result=True)
def m365_import_run(job_id: int) -> dict:
    """Import the pending users of one Microsoft 365 import. Safe to run twice or after
    a dead worker: each user is imported in its own transaction, at most once."""
    from m365bridge import services

    job = services.import_run(job_id=job_id)
    if job is None:
        return {"outcome": "missing"}
    if job.status == job.DONE:  # the users are in: their photos follow, in their own task
        services.import_photos_send(job_id=job_id)
    return {"status": job.status, "done": job.done, "total": job.total}


@shared_task(acks_late=True, ignore_result=True)
def m365_import_photos_run(job_id: int) -> dict:
    """Read the profile photos of one import's users from Microsoft 365. Safe to run
    twice or after a dead worker: each photo is stored once, under the job's lease."""
    from m365bridge import services

    job = services.import_photos_run(job_id=job_id)
    if job is None:
        return {"outcome": "missing"}
    return {"photos": job.photos_status, "done": job.photos_done, "total": job.photos_total}


@shared_task(ignore_result=True)
def m365_imports_resume() -> list[int]:
    """Send again the imports (and their photo steps) whose worker stopped or whose task
    was lost."""
    from m365bridge import services

    return services.imports_resume() + services.import_photos_resume()
