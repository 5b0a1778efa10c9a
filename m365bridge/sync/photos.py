"""The photo kind (I5): a bound user's profile photo, pushed to Microsoft 365 by the
engine with its claims, lease, retries and events.

A photo is binary and may be 4 MB (Microsoft's limit is for the whole request), so it
is not sent in a `$batch`: each claimed row is one `PUT users/{id}/photo/$value` (or a
`DELETE` when the photo was removed; Microsoft answering 404 `ImageNotFound` means it
has none already), sent at `low` priority within the tenant's write budget. A row waits
until its binding has a Microsoft account (`ready`), so a new user's photo follows its
account. Each outcome is event `user_photo_update_provision` on that account.
"""

from __future__ import annotations

import logging

from django.db.models import Q
from django.utils import timezone

from directory import photos as directory_photos

from .. import graph
from ..models import UserBinding, UserPhotoSync
from . import engine, intent
from .engine import SyncResult

log = logging.getLogger(__name__)

EVENT = "user_photo_update_provision"


def _ready() -> Q:
    return Q(binding__bound=True, binding__user__isnull=False) & ~Q(binding__microsoft_id="")


PHOTOS = engine.Kind(
    model=UserPhotoSync,
    related=("binding__user", "tenant__organization"),
    ready=_ready,
)


# --- intent (inside the directory's transaction) ---------------------------------------


def photo_mark_dirty(*, user_id: int, actor_id: int | None) -> int | None:
    """The user's photo changed: mark its bound account's photo for sync unless Microsoft
    already holds this very photo. Returns the tenant id to sync, or None."""
    binding = UserBinding.objects.filter(user_id=user_id, bound=True).select_related("user").first()
    if binding is None:
        return None
    row, _ = UserPhotoSync.objects.get_or_create(
        binding=binding,
        defaults={
            "organization_id": binding.organization_id,
            "tenant_id": binding.tenant_id,
            "needs_sync": False,
            "dirty_since": None,
        },
    )
    if row.sha256 == binding.user.photo_sha256 and not row.needs_sync:
        return None
    intent.binding_mark_dirty(
        bindings=UserPhotoSync.objects.filter(pk=row.pk),
        actor_id=actor_id,
        state=UserPhotoSync.PENDING,
        next_attempt_at=None,
        attempts=0,
    )
    return binding.tenant_id


def photo_known(*, binding: UserBinding, sha256: str) -> None:
    """Microsoft holds this photo (it was just imported from there): nothing to push."""
    UserPhotoSync.objects.update_or_create(
        binding=binding,
        defaults={
            "organization_id": binding.organization_id,
            "tenant_id": binding.tenant_id,
            "sha256": sha256,
            "state": UserPhotoSync.PROVISIONED,
            "needs_sync": False,
            "dirty_since": None,
            "synced_at": timezone.now(),
        },
    )


# --- sending ---------------------------------------------------------------------------


def chunk_sync(client: graph.GraphClient, rows: list[UserPhotoSync], result: SyncResult) -> None:
    """Push each claimed photo; one failure never stops the others."""
    for row in rows:
        try:
            _row_sync(client, row, result)
        except graph.NeedsReauthorization:
            raise
        except Exception as exc:
            log.exception("pushing photo %s failed", row.pk, extra={"photo_sync": row.pk})
            _record_error(row, engine.as_graph_error(exc), result)


def _row_sync(client, row: UserPhotoSync, result: SyncResult) -> None:
    user, generation = row.binding.user, row.generation
    path = f"users/{row.binding.microsoft_id}/photo/$value"
    sha256, size = user.photo_sha256, 0
    try:
        if sha256:
            stored = directory_photos.photo_open(user)
            if stored is None:
                raise graph.GraphError(
                    "Stratus could not read this photo's file.", code="photo_file_missing"
                )
            with stored:
                data = stored.read()
            size = len(data)
            content_type = directory_photos.photo_content_type(user.photo.name)
            client.request(
                "PUT", path, data=data, headers={"Content-Type": content_type}, priority="low"
            )
        elif row.sha256:
            _delete(client, path)
    except graph.GraphError as error:
        _record_error(row, error, result)
        return
    _record_success(row, generation, sha256, size, result)


def _delete(client, path: str) -> None:
    try:
        client.request("DELETE", path, priority="low")
    except graph.NotFound:  # Microsoft has no photo already
        pass


def _record_success(row, generation: int, sha256: str, size: int, result: SyncResult) -> None:
    def update(locked):
        had = locked.sha256
        locked.sha256, locked.state = sha256, UserPhotoSync.PROVISIONED
        locked.synced_at = timezone.now()
        locked.succeed()
        if sha256 or had:
            PHOTOS.event(
                locked,
                EVENT,
                details={
                    "microsoft_id": locked.binding.microsoft_id,
                    "action": "set" if sha256 else "remove",
                    "bytes": size,
                },
            )
        return True

    if engine.record(PHOTOS, row.pk, generation, update):
        result.applied += 1
        result.count("photo")


def _record_error(row, error: graph.GraphError, result: SyncResult) -> None:
    if error.retryable:
        engine.record_retry(PHOTOS, row.pk, error, result)
        return
    engine.record_failure(
        PHOTOS,
        row.pk,
        row.generation,
        error,
        result,
        event_type=EVENT,
        details={"microsoft_id": row.binding.microsoft_id},
    )
