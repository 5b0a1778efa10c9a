"""The photo step of an import (I5): once an import's users are in, read each imported
user's profile photo from Microsoft 365 and store it in Stratus.

It runs as its own task after the users are done, so it never slows their import, and
shows its own progress on the job ("photos x of y"). Like the import it is durable: each
item records its photo outcome (stored, none, failed) in the transaction that stores it,
a worker holds the job's lease while it works, a restarted or lost task is sent again
by `import_photos_resume`, and a rerun reads only the photos still to read. Reads go 20
per `$batch` (`GET users/{id}/photo/$value`; Microsoft's 404 `ImageNotFound` means no
photo, not an error), each task stops after `time_limit` seconds and sends itself again,
and a busy Microsoft (429/5xx after the client's own retries) leaves the rest for a
later task. Nothing is written to Microsoft: each photo is recorded as the one
Microsoft holds before it is stored, so the photo kind has nothing to push back."""

from __future__ import annotations

import base64
import logging
import time
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from directory import photos as directory_photos
from directory.errors import InvalidInput

from .. import graph
from ..graph import BatchRequest
from ..models import ImportItem, ImportJob, UserBinding
from ..sync.intent import task_send
from ..sync.photos import photo_known
from ..tenants import tenant_graph_session
from .import_lease import job_claim, job_renew, lease_length

log = logging.getLogger(__name__)

PHOTOS_TASK = "workers.tasks.m365_import_photos_run"
BATCH = graph.client.BATCH_SIZE
BUSY_WAIT = 30.0  # seconds before a task carries on after Microsoft stayed busy


def import_photos_send(*, job_id: int, countdown: float | None = None) -> None:
    task_send(PHOTOS_TASK, args=[job_id], countdown=countdown, what=f"import {job_id} photos")


def import_photos_resume() -> list[int]:
    """Send again the photo steps whose worker stopped or whose task was lost."""
    now = timezone.now()
    ids = list(
        ImportJob.objects.filter(status=ImportJob.DONE)
        .exclude(photos_status=ImportJob.DONE)
        .filter(
            Q(claimed_until__lt=now)
            | Q(claimed_until__isnull=True, ended_at__lt=now - timedelta(minutes=1))
        )
        .values_list("pk", flat=True)
    )
    for job_id in ids:
        import_photos_send(job_id=job_id)
    return ids


def _claim(job_id: int, token: str) -> bool:
    jobs = ImportJob.objects.filter(pk=job_id, status=ImportJob.DONE).exclude(
        photos_status=ImportJob.DONE
    )
    return job_claim(jobs, token, photos_status=ImportJob.PHOTOS_RUNNING)


def _pending(job: ImportJob):
    return job.items.filter(outcome=ImportItem.IMPORTED, photo="")


def import_photos_run(*, job_id: int, time_limit: float = 50.0) -> ImportJob | None:
    """Read and store the photos of the job's imported users still to read (the task).
    Safe to run twice: a second run while one holds the lease returns at once."""
    token = uuid.uuid4().hex
    if not _claim(job_id, token):
        return ImportJob.objects.filter(pk=job_id).first()
    job = ImportJob.objects.select_related("tenant__organization", "actor").get(pk=job_id)
    if not job.photos_total:
        total = job.items.filter(outcome=ImportItem.IMPORTED).count()
        ImportJob.objects.filter(pk=job_id).update(photos_total=total)
    deadline = time.monotonic() + time_limit
    carry_on: float | None = None
    try:
        within = 0.8 * lease_length().total_seconds()
        with tenant_graph_session(tenant=job.tenant, within=within) as client:
            while carry_on is None:
                items = list(_pending(job).select_related("user").order_by("pk")[:BATCH])
                if not items:
                    break
                if not _batch_import(client, job, items):
                    carry_on = BUSY_WAIT
                elif not job_renew(job_id, token):
                    return job  # the lease was lost: another worker carries on
                elif time.monotonic() >= deadline:
                    carry_on = 0.0
    except graph.NeedsReauthorization:
        carry_on = None  # left as it is; the resume sends it again once re-authorized
    finally:
        ImportJob.objects.filter(pk=job_id, claim_token=token).update(
            claim_token="", claimed_until=None
        )
    if carry_on is not None:
        import_photos_send(job_id=job_id, countdown=carry_on or None)
    elif not _pending(job).exists():
        ImportJob.objects.filter(pk=job_id).update(photos_status=ImportJob.DONE)
    job.refresh_from_db()
    return job


def _batch_import(client, job: ImportJob, items: list[ImportItem]) -> bool:
    """Read one `$batch` of photos and store them; False when Microsoft stayed busy
    for some (those stay pending)."""
    requests_ = [
        BatchRequest(id=str(i), method="GET", url=f"users/{item.microsoft_id}/photo/$value")
        for i, item in enumerate(items)
    ]
    try:
        results = client.batch(requests_)
    except graph.Transient as exc:
        log.warning("import %s: photos not read now (%s)", job.pk, type(exc).__name__)
        return False
    busy = False
    for item, reply in zip(items, results, strict=True):
        if reply.error is not None and reply.error.retryable:
            busy = True
            continue
        _item_photo(job, item, reply)
    return not busy


@transaction.atomic
def _item_photo(job: ImportJob, item: ImportItem, reply) -> None:
    outcome = ImportItem.PHOTO_NONE
    if reply.error is None and item.user is not None:
        outcome = _photo_store(job, item, _body_bytes(reply.body))
    elif reply.error is not None and not isinstance(reply.error, graph.NotFound):
        log.warning("import %s: photo of %s refused: %s", job.pk, item.pk, reply.error.code)
        outcome = ImportItem.PHOTO_FAILED
    updated = ImportItem.objects.filter(pk=item.pk, photo="").update(photo=outcome)
    if updated:
        ImportJob.objects.filter(pk=job.pk).update(
            photos_done=F("photos_done") + 1,
            photos_found=F("photos_found") + int(outcome == ImportItem.PHOTO_STORED),
            photos_failed=F("photos_failed") + int(outcome == ImportItem.PHOTO_FAILED),
        )


def _body_bytes(body) -> bytes:
    """A binary `$batch` reply body is base64 (graph-facts §4)."""
    if isinstance(body, bytes):
        return body
    try:
        return base64.b64decode(body or "", validate=True)
    except (ValueError, TypeError):
        return b""


def _photo_store(job: ImportJob, item: ImportItem, data: bytes) -> str:
    try:
        photo = directory_photos.photo_check(data)
    except InvalidInput:
        return ImportItem.PHOTO_FAILED  # Stratus would refuse it as an upload too
    binding = UserBinding.objects.filter(user=item.user, tenant=job.tenant).first()
    if binding is not None:
        photo_known(binding=binding, sha256=photo.sha256)
    directory_photos.user_photo_set(actor=job.actor, user=item.user, data=data, source="import")
    return ImportItem.PHOTO_STORED
