"""Reconcile (P5): read back what Microsoft 365 holds and overwrite what changed there.

Stratus is authoritative. A reconcile reads `users/delta` from the tenant's saved delta
link, so with nothing changed it costs one request whatever the directory size; the
first run, or one whose link Microsoft no longer knows (`syncStateNotFound`), reads
every user instead and says so in the run's note.

For each bound account Microsoft reports, it compares what Microsoft holds with what
Stratus last told it (the binding's known state): a synced attribute, sign-in
(`accountEnabled`), or a password changed after Stratus's last push
(`lastPasswordChangeDateTime`). A difference is drift: it is written on the binding
(`drift`) and the binding is marked for sync, so the provisioning engine sends the
correction through `$batch`, revokes sessions after a password overwrite, and writes
the events (with `"reason": "drift"`). Events and batching stay in one place.

`groups/delta` is read too (`group_reconcile`: the group mirror of the Import page and
the bound security groups' drift): one more request with nothing changed.

The read takes no lock on bindings, so password pushes and single-user changes go on
meanwhile. A binding the engine synced after the read began may have been read before
that write: it is read again on its own before judging it. Only one reconcile per
tenant runs at a time: a lease on the tenant row, claimed with a conditional UPDATE,
renewed before every request, and simply expiring when a worker dies.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import graph
from ..attributes import SYNCED_GRAPH_PROPERTIES
from ..graph import BatchRequest
from ..graph.errors import DeltaExpired
from ..models import SyncRun, Tenant, UserBinding
from ..tenants import tenant_graph_session
from . import group_reconcile, intent
from .mirror import MIRROR_PROPERTIES, MirrorRound, mirror_current, moment_parse
from .restore import bindings_mark_missing

log = logging.getLogger(__name__)

RECONCILE_TASK = "workers.tasks.m365_reconcile_tenant"
# The drift check's properties, and what the import mirror keeps besides (issue 12).
SELECT = (
    "id",
    "accountEnabled",
    "lastPasswordChangeDateTime",
    *SYNCED_GRAPH_PROPERTIES,
    *MIRROR_PROPERTIES,
)
SELECT_TEXT = ",".join(SELECT)
PAGE_SIZE = 999  # asked for with Prefer: odata.maxpagesize; Microsoft may send fewer
PAGE_HEADERS = {"Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
CHECKED_STATES = (UserBinding.PROVISIONED, UserBinding.BLOCKED)
# Graph keeps these as typed; Stratus sends them lower-case.
_CASELESS = frozenset({"userPrincipalName", "mail"})

FIRST_READ = "First reconcile of this tenant: every user was read."
MIRROR_FILL = (
    "The import mirror of this tenant was not filled with the current properties: "
    "every user was read."
)
LINK_EXPIRED = "The saved delta link had expired (syncStateNotFound): every user was read instead."
GROUPS_UNREADABLE = (
    "The tenant's groups could not be read (Stratus lacks the permission to read groups): "
    "bound groups were not checked and the Import page lists no groups"
)
ALREADY_RUNNING = "Another reconcile of this tenant was running; this one stopped at once."
WORKER_STOPPED = (
    "The worker running this reconcile stopped before it finished; its lease "
    "expired and a later run took over."
)


def _lease() -> timedelta:
    return timedelta(seconds=getattr(settings, "M365_RECONCILE_LEASE_SECONDS", 120))


def _password_grace() -> timedelta:
    """Microsoft's `lastPasswordChangeDateTime` has whole seconds and its clock is not
    ours: a change this close after Stratus's own push is taken to be that push."""
    return timedelta(seconds=getattr(settings, "M365_PASSWORD_DRIFT_GRACE_SECONDS", 2))


class LeaseLost(Exception):
    """The run's lease expired and another reconcile took the tenant."""


@dataclass
class _Round:
    tenant: Tenant
    run: SyncRun
    token: str
    actor_id: int | None
    started: datetime
    mirror: MirrorRound
    seen: set[str] = field(default_factory=set)
    recheck: set[int] = field(default_factory=set)

    def before_request(self) -> None:
        """Before every Graph request of the run: count it (a refused one counts too)
        and renew the lease, so a run that outlives it stops instead of racing another."""
        self.count()
        self.renew()

    def count(self) -> None:
        self.run.requests += 1

    def renew(self) -> None:
        _lease_renew(self.tenant.pk, self.token)


# --- the lease ---------------------------------------------------------------------------


def reconcile_lease_claim(*, tenant_id: int, token: str) -> bool:
    """Claim the tenant's reconcile lease; False while another run holds it."""
    now = timezone.now()
    return bool(
        Tenant.objects.filter(pk=tenant_id)
        .filter(Q(reconcile_until__isnull=True) | Q(reconcile_until__lt=now))
        .update(reconcile_token=token, reconcile_until=now + _lease(), last_reconcile_at=now)
    )


def _lease_renew(tenant_id: int, token: str) -> None:
    if not Tenant.objects.filter(pk=tenant_id, reconcile_token=token).update(
        reconcile_until=timezone.now() + _lease()
    ):
        raise LeaseLost


def _lease_release(tenant_id: int, token: str) -> None:
    Tenant.objects.filter(pk=tenant_id, reconcile_token=token).update(
        reconcile_token="", reconcile_until=None
    )


# --- one run -----------------------------------------------------------------------------


def tenant_reconcile(*, tenant_id: int, actor_id: int | None = None) -> SyncRun | None:
    """Read the tenant's users back from Microsoft 365 and send their drift for
    correction. Returns the run as recorded (None for a missing tenant)."""
    tenant = Tenant.objects.select_related("organization").filter(pk=tenant_id).first()
    if tenant is None:
        return None
    if not tenant.can_sync:
        status = tenant.get_status_display().lower()
        return _run_skipped(tenant, actor_id, f"The tenant is {status}: nothing was read.")
    token = uuid.uuid4().hex
    if not reconcile_lease_claim(tenant_id=tenant.pk, token=token):
        return _run_skipped(tenant, actor_id, ALREADY_RUNNING)
    try:
        return _run(tenant, token, actor_id)
    finally:
        _lease_release(tenant.pk, token)


def _run_skipped(tenant: Tenant, actor_id: int | None, note: str) -> SyncRun:
    now = timezone.now()
    return SyncRun.objects.create(
        organization_id=tenant.organization_id,
        tenant=tenant,
        actor_id=actor_id,
        outcome=SyncRun.SKIPPED,
        started_at=now,
        ended_at=now,
        note=note,
    )


def _run(tenant: Tenant, token: str, actor_id: int | None) -> SyncRun:
    tenant.refresh_from_db(fields=["delta_link", "group_delta_link"])
    # Holding the lease, any run still marked running lost its worker.
    SyncRun.objects.filter(tenant=tenant, outcome=SyncRun.RUNNING).update(
        outcome=SyncRun.FAILED, ended_at=timezone.now(), note=WORKER_STOPPED
    )
    run = SyncRun.objects.create(
        organization_id=tenant.organization_id,
        tenant=tenant,
        actor_id=actor_id,
        kind=SyncRun.DELTA if tenant.delta_link else SyncRun.FULL,
        note="" if tenant.delta_link else FIRST_READ,
    )
    round_ = _Round(
        tenant=tenant,
        run=run,
        token=token,
        actor_id=actor_id,
        started=run.started_at,
        mirror=MirrorRound(tenant=tenant, select=SELECT_TEXT),
    )
    try:
        with tenant_graph_session(tenant=tenant, budget=False) as client:
            client.before_request = round_.before_request
            delta_link = _read(client, round_)
            _recheck(client, round_)
            group_link = _read_groups(client, round_)
        Tenant.objects.filter(pk=tenant.pk, reconcile_token=token).update(
            delta_link=delta_link, group_delta_link=group_link
        )
        run.outcome = SyncRun.SUCCEEDED
    except LeaseLost:
        run.outcome = SyncRun.FAILED
        run.add_note("The run took longer than its lease and another reconcile took over.")
    except graph.GraphError as exc:
        run.outcome = SyncRun.FAILED
        run.add_note(f"Microsoft 365 could not be read: {exc}")
    except Exception as exc:  # recorded on the run for the admin; the next run starts over
        log.exception("reconcile of tenant %s failed", tenant.pk)
        run.outcome = SyncRun.FAILED
        run.add_note(f"Stratus could not finish the reconcile ({type(exc).__name__}).")
    run.ended_at = timezone.now()
    run.save()
    if run.corrected:
        intent.sync_send(tenant_id=tenant.pk)
    return run


# --- reading -----------------------------------------------------------------------------


def _read(client: graph.GraphClient, round_: _Round) -> str:
    """Process every page of one delta round; return the new delta link. A link that
    expired (on its first page or later) restarts as a full read."""
    link = round_.tenant.delta_link
    if link and not mirror_current(tenant=round_.tenant, select=SELECT_TEXT):
        link = ""  # a link keeps the select it began with: the new properties need a full read
        round_.run.kind = SyncRun.FULL
        round_.run.add_note(MIRROR_FILL)
    try:
        return _pages(client, round_, link or "users/delta", full=not link)
    except DeltaExpired:
        if not link:
            raise
    round_.run.kind = SyncRun.FULL
    round_.seen.clear()
    round_.run.add_note(LINK_EXPIRED)
    return _pages(client, round_, "users/delta", full=True)


def _read_groups(client: graph.GraphClient, round_: _Round) -> str:
    """The tenant's groups (`groups/delta`): the group mirror (I3) and the bound
    security groups' drift (G1), every run."""
    tenant = round_.tenant
    try:
        return group_reconcile.groups_reconcile(
            client=client,
            tenant=tenant,
            link=tenant.group_delta_link,
            run=round_.run,
            actor_id=round_.actor_id,
        )
    except graph.AuthorizationError as exc:  # the users' part of the run still counts
        round_.run.add_note(f"{GROUPS_UNREADABLE} ({exc})")
        return tenant.group_delta_link


def _pages(client: graph.GraphClient, round_: _Round, start: str, *, full: bool) -> str:
    params = {"$select": SELECT_TEXT} if start == "users/delta" else None
    delta_link = ""
    round_.mirror.begin(full=full)
    # The next page is fetched while this one is checked and written (`pages_ahead`):
    # the fetching thread only counts its requests; the lease is renewed here, on this
    # thread and its database connection, before each page and while waiting for one.
    client.before_request = round_.count
    try:
        pages = client.pages_ahead(start, params=params, headers=PAGE_HEADERS, tick=round_.renew)
        for page in pages:
            round_.run.read += len(page.items)
            _page_check(round_, page.items)
            round_.mirror.page_write(page.items)
            delta_link = page.delta_link or delta_link
    finally:
        client.before_request = round_.before_request
    round_.mirror.end(full=full)
    if full:
        _missing_after_full_read(round_)
    return delta_link


def _recheck(client: graph.GraphClient, round_: _Round) -> None:
    """Bindings the engine wrote to after the read began: read them again, alone."""
    if not round_.recheck:
        return
    bindings = list(UserBinding.objects.filter(pk__in=round_.recheck).exclude(microsoft_id=""))
    requests_ = [
        BatchRequest(id=str(i), method="GET", url=f"/users/{b.microsoft_id}?$select={SELECT_TEXT}")
        for i, b in enumerate(bindings)
    ]
    round_.recheck.clear()
    round_.started = timezone.now()
    results = client.batch(requests_)
    items, missing = [], []
    for binding, result in zip(bindings, results, strict=True):
        if result.ok and isinstance(result.body, dict):
            items.append(result.body)
        elif isinstance(result.error, graph.NotFound):
            missing.append(binding.pk)
        else:
            round_.run.failed += 1
            round_.run.add_note(f"{binding.user_label} could not be read again: {result.error}")
    _page_check(round_, items, last_chance=True)
    if missing:
        round_.run.corrected += bindings_account_missing(
            tenant=round_.tenant, binding_ids=missing, actor_id=round_.actor_id
        )


# --- comparing ---------------------------------------------------------------------------


def _page_check(round_: _Round, items: list[dict], *, last_chance: bool = False) -> None:
    removed = {i["id"] for i in items if "@removed" in i}
    present = {i["id"]: i for i in items if "@removed" not in i and i.get("id")}
    round_.seen.update(present)
    if not items:
        return
    bindings = UserBinding.objects.filter(
        tenant_id=round_.tenant.pk, bound=True, microsoft_id__in=[*present, *removed]
    ).only(
        "pk",
        "microsoft_id",
        "state",
        "known_properties",
        "known_enabled",
        "password_encrypted",
        "password_pushed_at",
        "synced_at",
        "claim_token",
        "claimed_until",
        "user_label",
    )
    now = timezone.now()
    findings, missing = {}, []
    for binding in bindings:
        if binding.state not in CHECKED_STATES:
            continue  # the engine is still creating, waiting or failing it
        if binding.microsoft_id in removed:
            missing.append(binding.pk)
            continue
        in_flight = binding.claim_token and binding.claimed_until and binding.claimed_until > now
        if not last_chance and (
            in_flight or (binding.synced_at and binding.synced_at > round_.started)
        ):
            round_.recheck.add(binding.pk)
            continue
        found = binding_drift(binding, present[binding.microsoft_id])
        if found:
            findings[binding.pk] = found
    if findings:
        round_.run.corrected += bindings_drift_record(findings=findings, actor_id=round_.actor_id)
    if missing:
        round_.run.corrected += bindings_account_missing(
            tenant=round_.tenant, binding_ids=missing, actor_id=round_.actor_id
        )


def _same(name: str, remote, known) -> bool:
    if name in _CASELESS and isinstance(remote, str) and isinstance(known, str):
        return remote.lower() == known.lower()
    if remote in ("", []) or known in ("", []):  # Graph answers null for cleared values
        return (remote or None) == (known or None)
    return remote == known


def binding_drift(binding: UserBinding, account: dict) -> dict:
    """What differs between Microsoft's `account` and what Stratus last told it:
    {"properties": [...], "enabled": True, "password": True}, or {} when nothing does.
    Only properties Microsoft returned are compared (delta may leave unchanged ones out)."""
    known = binding.known_properties or {}
    found: dict = {}
    properties = sorted(
        name
        for name in SYNCED_GRAPH_PROPERTIES
        if name in account and name in known and not _same(name, account[name], known[name])
    )
    if properties:
        found["properties"] = properties
    if (
        "accountEnabled" in account
        and binding.known_enabled is not None
        and account["accountEnabled"] is not binding.known_enabled
    ):
        found["enabled"] = True
    changed_at = moment_parse(account.get("lastPasswordChangeDateTime"))
    if (
        changed_at
        and binding.password_encrypted
        and binding.password_pushed_at
        and changed_at > binding.password_pushed_at + _password_grace()
    ):
        found["password"] = True
    return found


def bindings_drift_record(*, findings: dict[int, dict], actor_id: int | None) -> int:
    """Write what each binding's account drifted in and mark it for sync (one short
    transaction; the engine sends the corrections). Returns how many were marked."""
    marked = 0
    with transaction.atomic():
        rows = (
            UserBinding.objects.select_for_update(of=("self",))
            .filter(pk__in=list(findings), bound=True)
            .only("pk", "drift")
        )
        for row in rows:
            marked += intent.binding_mark_dirty(
                bindings=UserBinding.objects.filter(pk=row.pk),
                actor_id=actor_id,
                drift=row.drift_with(findings[row.pk]),
                next_attempt_at=None,
            )
    return marked


def bindings_account_missing(
    *, tenant: Tenant, binding_ids: list[int], actor_id: int | None
) -> int:
    """Bound accounts that Microsoft 365 no longer has (deleted there): the restore rule
    (P7, `sync.restore`) — the next sync restores each from Microsoft's deleted items
    (same object), or creates it again, or waits while another deleted account holds its
    address. Returns how many."""
    return bindings_mark_missing(
        bindings=UserBinding.objects.filter(tenant=tenant, pk__in=binding_ids), actor_id=actor_id
    )


def _missing_after_full_read(round_: _Round) -> None:
    """A full read lists every account: a bound one it did not list is gone. Bindings
    synced after the read began may be newer than the listing, so they are left out."""
    candidates = (
        UserBinding.objects.filter(
            tenant_id=round_.tenant.pk,
            bound=True,
            state__in=CHECKED_STATES,
            synced_at__lt=round_.started,
        )
        .exclude(microsoft_id="")
        .values_list("pk", "microsoft_id")
    )
    missing = [
        pk
        for pk, microsoft_id in candidates.iterator(chunk_size=5000)
        if microsoft_id not in round_.seen
    ]
    if missing:
        round_.run.corrected += bindings_account_missing(
            tenant=round_.tenant, binding_ids=missing, actor_id=round_.actor_id
        )


# --- scheduling --------------------------------------------------------------------------


def tenants_due(*, now: datetime | None = None) -> list[int]:
    """Connected tenants whose interval has passed since their last reconcile and
    whose lease is free."""
    now = now or timezone.now()
    rows = (
        Tenant.objects.filter(status=Tenant.CONNECTED)
        .filter(Q(reconcile_until__isnull=True) | Q(reconcile_until__lt=now))
        .values_list("pk", "last_reconcile_at", "reconcile_interval_minutes")
    )
    return [
        pk
        for pk, last, minutes in rows
        if last is None or last + timedelta(minutes=max(minutes, 1)) <= now
    ]


def reconcile_send(*, tenant_id: int, actor_id: int | None = None) -> None:
    """Queue a reconcile of the tenant (losing the message loses nothing: the schedule
    sends it again)."""
    intent.task_send(
        RECONCILE_TASK, args=[tenant_id, actor_id], what=f"the reconcile of tenant {tenant_id}"
    )


def reconcile_due() -> list[int]:
    """Queue a reconcile for every tenant that is due. Returns their ids."""
    tenant_ids = tenants_due()
    for tenant_id in tenant_ids:
        reconcile_send(tenant_id=tenant_id)
    return tenant_ids
