"""Sending to Microsoft 365 paused because the write budget's Redis is unreachable: the
workers record it in the database (which the console can still read) and clear it when
Redis answers again, so the console shows a banner while it lasts.

The budget (`graph.budget`) calls `sending_pause_record` each time it finds Redis
unreachable and `sending_pause_clear` on its first answer after that (hooked up in
`subscribers`). A row no worker has confirmed for `STALE_AFTER` is not shown (the
worker that saw it may be gone, and a worker that never saw the outage cannot clear it).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import DatabaseError
from django.utils import timezone

from .models import SendingPause

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(seconds=60)


def sending_pause_record(*, error: BaseException) -> None:
    """A budget found Redis unreachable (a worker tries again every few seconds): say so,
    or that it still is."""
    now = timezone.now()
    try:
        pause, created = SendingPause.objects.get_or_create(
            reason=SendingPause.BUDGET_REDIS,
            defaults={"since": now, "seen_at": now, "detail": type(error).__name__},
        )
        if not created:
            SendingPause.objects.filter(pk=pause.pk).update(
                seen_at=now, detail=type(error).__name__
            )
    except DatabaseError:
        log.exception("could not record that sending to Microsoft 365 is paused")


def sending_pause_clear() -> None:
    """A budget reached Redis again: sending goes on, the banner goes."""
    try:
        deleted, _ = SendingPause.objects.filter(reason=SendingPause.BUDGET_REDIS).delete()
    except DatabaseError:
        log.exception("could not record that sending to Microsoft 365 goes on")
        return
    if deleted:
        log.info("the write budget's Redis answers again: sending to Microsoft 365 goes on")


def sending_paused() -> SendingPause | None:
    """The pause to show in the console, if a worker confirmed it recently."""
    return (
        SendingPause.objects.filter(seen_at__gte=timezone.now() - STALE_AFTER)
        .order_by("since")
        .first()
    )
