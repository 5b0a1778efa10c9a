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
