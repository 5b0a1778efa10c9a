"""The lease of an import job, shared by its two steps (the users, `imports`, and their
photos, `photo_imports`): one worker at a time holds the job; a dead worker's lease
expires after `M365_IMPORT_LEASE_SECONDS` (default 120)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..models import ImportJob


def lease_length() -> timedelta:
    return timedelta(seconds=getattr(settings, "M365_IMPORT_LEASE_SECONDS", 120))


def job_claim(jobs, token: str, **fields) -> bool:
    """Take the lease of the one job in `jobs` (a queryset) unless a live worker holds
    it, setting `fields` in the same conditional UPDATE."""
    now = timezone.now()
    return bool(
        jobs.filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)).update(
            claim_token=token, claimed_until=now + lease_length(), **fields
        )
    )


def job_renew(job_id: int, token: str) -> bool:
    """Extend the lease; False when another worker took it meanwhile."""
    return bool(
        ImportJob.objects.filter(pk=job_id, claim_token=token).update(
            claimed_until=timezone.now() + lease_length()
        )
    )
