"""Durable intent: mark, in the caller's transaction, that a binding must be synced,
and after commit send a worker the tenant's sync task. The broker only speeds things
up; the sweep (`runner.sweep_due_tenants`) finds any intent whose message was lost."""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from ..models import GroupBinding

log = logging.getLogger(__name__)

SYNC_TASK = "workers.tasks.m365_sync_tenant"


def binding_mark_dirty(*, bindings, actor_id: int | None, **fields) -> int:
    """Bump the generation of `bindings` (a queryset) and mark them for sync; `fields`
    are further updates made in the same statement. Returns how many rows changed."""
    now = timezone.now()
    return bindings.update(
        needs_sync=True,
        generation=F("generation") + 1,
        intent_actor_id=actor_id,
        dirty_since=Case(When(needs_sync=True, then=F("dirty_since")), default=Value(now)),
        updated_at=now,
        **fields,
    )


# Rows marked for sync at once from which the table's planner statistics are refreshed.
STATISTICS_REFRESH_FROM = 500


def bulk_marked(model, count: int) -> None:
    """`count` rows of `model` were just marked for sync at once (a bulk bind): on
    PostgreSQL, refresh the table's statistics in the same transaction. Otherwise the
    engine's claims are planned for the table as it was before (autovacuum takes up to
    a minute to notice), and each claim of a 5,000-user bind would read every due row."""
    if count < STATISTICS_REFRESH_FROM or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def sync_after_commit(*, tenant_id: int, countdown: float | None = None) -> None:
    """Send the tenant's sync task once the current transaction commits (at once when
    there is none). Losing this message loses nothing: the sweep sends it again."""
    transaction.on_commit(lambda: sync_send(tenant_id=tenant_id, countdown=countdown))


def sync_send(*, tenant_id: int, countdown: float | None = None) -> None:
    task_send(
        SYNC_TASK, args=[tenant_id], countdown=countdown, what=f"the sync of tenant {tenant_id}"
    )


def task_send(name: str, *, args: list, what: str, countdown: float | None = None) -> None:
    """Send a worker task by name (m365bridge does not import workers). Losing it loses
    nothing: the intent is in the database and the sweep or the schedule sends it again."""
    options = {}
    queue = getattr(settings, "M365_SYNC_QUEUE", "")
    if queue:
        options["queue"] = queue
    if countdown:
        options["countdown"] = countdown
    app = current_app
    try:
        if app.conf.task_always_eager:  # development without a worker: run it here
            app.loader.import_default_modules()
            app.tasks[name].apply(args=args)
        else:
            app.send_task(name, args=args, **options)
    except Exception as exc:  # broker down
        log.warning("could not queue %s (%s); it is sent again later", what, type(exc).__name__)


def member_account_changed(
    *, tenant_id: int, user_id: int | None, microsoft_ids=(), actor_id: int | None = None
) -> None:
    """A member's account in the tenant was created or removed: the security groups it
    belongs to (by Stratus membership, or by what Microsoft was last told) follow, in
    the name of whoever changed the member's binding (G1)."""
    members_accounts_changed(tenant_id=tenant_id, changes=[(user_id, microsoft_ids, actor_id)])


def _groups_bound(tenant_id: int) -> bool:
    """Whether the tenant has group bindings: asked after every chunk of accounts, in SQL
    of its own (Django's compile of the query cost more than running it)."""
    meta = GroupBinding._meta
    quote = connection.ops.quote_name
    tenant = quote(meta.get_field("tenant").column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {quote(meta.db_table)} WHERE {tenant} = %s LIMIT 1",  # noqa: S608 - names from the model
            [tenant_id],
        )
        return cursor.fetchone() is not None


def members_accounts_changed(*, tenant_id: int, changes) -> None:
    """`member_account_changed` for many members at once (a chunk of accounts just
    created): `changes` are (user_id or None, microsoft_ids, actor_id). A tenant
    without group bindings costs one query."""
    if not changes or not _groups_bound(tenant_id):
        return
    by_actor: dict[int | None, tuple[set, set]] = {}
    for user_id, microsoft_ids, actor_id in changes:
        users, ids = by_actor.setdefault(actor_id, (set(), set()))
        if user_id is not None:
            users.add(user_id)
        ids.update(i for i in microsoft_ids if i)
    known = None
    for actor_id, (users, ids) in by_actor.items():
        pks = set()
        if users:
            pks.update(
                GroupBinding.objects.filter(
                    tenant_id=tenant_id, group__members__pk__in=users
                ).values_list("pk", flat=True)
            )
        if ids:
            if known is None:
                known = list(
                    GroupBinding.objects.filter(tenant_id=tenant_id).values_list(
                        "pk", "known_members"
                    )
                )
            pks.update(pk for pk, members in known if ids & set(members or []))
        if pks:
            binding_mark_dirty(bindings=GroupBinding.objects.filter(pk__in=pks), actor_id=actor_id)
