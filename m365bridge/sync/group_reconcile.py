"""Reconcile of bound security groups (G1, P5): Stratus puts back what was changed there.

A bound group's Microsoft 365 membership is kept equal to the group's members that have
an account in the tenant, and its name and description to Stratus's. During every
reconcile of the tenant `groups/delta` is read from the tenant's `group_delta_link` (one
request with nothing changed); each page is also written into the tenant's group mirror
(`group_mirror`, the Import page's groups), so one read serves both. The first
read, or one whose link Microsoft no longer knows, lists every group with all its
members; later reads list only changed groups with `members@delta` additions and
`@removed` removals, applied to what Stratus last told Microsoft (`known_members`).

A bound group whose name, description or members differ from what Stratus last told
Microsoft has drifted: its known state is set to what Microsoft actually holds, the
finding is written on the binding (`drift`), and the binding is marked for sync, so the
group engine sends only the difference back (PATCH, member `$ref` adds and removals)
with `"reason": "drift"` in its events.

A group the engine is writing to, or wrote to after the read began, may have been read
before that write: it is left alone and the delta link is not advanced, so the next
reconcile reads the same changes again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .. import graph
from ..graph.errors import DeltaExpired
from ..models import GroupBinding, SyncRun, Tenant
from . import group_restore, intent
from .group_mirror import GROUP_MIRROR_PROPERTIES, GroupMirrorRound, group_mirror_current

PROPERTIES = ("displayName", "description")
SELECT = ",".join(("id", *PROPERTIES, *GROUP_MIRROR_PROPERTIES, "members"))
PAGE_HEADERS = {"Prefer": "odata.maxpagesize=999"}

FIRST_READ = "First reading of the tenant's groups: every group was read."
MIRROR_FILL = (
    "The import mirror of this tenant's groups was not filled with the current properties: "
    "every group was read."
)
LINK_EXPIRED = (
    "The saved groups delta link had expired (syncStateNotFound): every group was read instead."
)
BUSY = "A group was being synced while it was read; it is read again at the next reconcile."


@dataclass
class _Seen:
    """What Microsoft reported for one bound group over the pages of a round."""

    properties: dict = field(default_factory=dict)
    added: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    deleted: bool = False  # the group itself was deleted in Microsoft


def groups_reconcile(
    *,
    client: graph.GraphClient,
    tenant: Tenant,
    link: str,
    run: SyncRun,
    actor_id: int | None,
) -> str:
    """Read the tenant's groups back into the mirror and send the bound groups' drift
    for correction. Returns the delta link to keep: the new one, or `link` again when a
    group could not be judged this time."""
    started = timezone.now()
    bound = dict(
        GroupBinding.objects.filter(tenant_id=tenant.pk)
        .exclude(microsoft_id="")
        .values_list("microsoft_id", "pk")
    )
    mirror = GroupMirrorRound(tenant=tenant, select=SELECT)
    if link and not group_mirror_current(tenant=tenant, select=SELECT):
        link = ""  # a link keeps the select it began with
        run.add_note(MIRROR_FILL)
    elif not link:
        run.add_note(FIRST_READ)
    full = not link
    try:
        seen, new_link = _pages(client, link or "groups/delta", bound, mirror, full=full)
    except DeltaExpired:
        if full:
            raise
        full = True
        run.add_note(LINK_EXPIRED)
        seen, new_link = _pages(client, "groups/delta", bound, mirror, full=True)
    gone = [microsoft_id for microsoft_id, entry in seen.items() if entry.deleted]
    for microsoft_id in gone:
        del seen[microsoft_id]
    run.corrected += group_restore.group_bindings_mark_missing(
        binding_ids=[bound[i] for i in gone], actor_id=actor_id
    )
    corrected, busy = _judge(seen, bound, full=full, started=started, actor_id=actor_id)
    run.corrected += corrected
    if busy:
        run.add_note(BUSY)
        return link
    return new_link


def _pages(
    client, start: str, bound: dict, mirror: GroupMirrorRound, *, full: bool
) -> tuple[dict, str]:
    """Stream the round: each page into the mirror; what concerns bound groups kept."""
    params = {"$select": SELECT} if start == "groups/delta" else None
    seen: dict[str, _Seen] = {}
    delta_link = ""
    mirror.begin(full=full)
    for page in client.pages(start, params=params, headers=PAGE_HEADERS):
        mirror.page_write(page.items)
        for item in page.items:
            microsoft_id = str(item.get("id", ""))
            if microsoft_id not in bound:
                continue  # not ours
            if "@removed" in item:  # a bound group deleted in Microsoft: restored or recreated
                seen[microsoft_id] = _Seen(deleted=True)
                continue
            entry = seen.setdefault(microsoft_id, _Seen())
            entry.properties.update({k: item[k] for k in PROPERTIES if k in item})
            for member in item.get("members@delta", []):
                member_id = str(member.get("id", ""))
                if "@removed" in member:
                    entry.removed.add(member_id)
                    entry.added.discard(member_id)
                else:
                    entry.added.add(member_id)
                    entry.removed.discard(member_id)
        delta_link = page.delta_link or delta_link
    mirror.end(full=full)
    return seen, delta_link


def _value(name: str, value):
    return (value or "") if name == "description" else value


def _findings(binding: GroupBinding, entry: _Seen, *, full: bool) -> tuple[dict, dict, list]:
    """(drift, Microsoft's properties, Microsoft's members) for one group."""
    known_properties = binding.known_properties or {}
    known = set(binding.known_members or [])
    actual_properties = dict(known_properties)
    drifted = []
    for name, value in entry.properties.items():
        actual_properties[name] = _value(name, value)
        if name in known_properties and actual_properties[name] != _value(
            name, known_properties[name]
        ):
            drifted.append(name)
    members = set(entry.added) if full else (known | entry.added) - entry.removed
    drift: dict = {}
    if drifted:
        drift["properties"] = sorted(drifted)
    if members != known:
        drift["members"] = True
    return drift, actual_properties, sorted(members)


def _judge(
    seen: dict[str, _Seen],
    bound: dict[str, int],
    *,
    full: bool,
    started: datetime,
    actor_id: int | None,
) -> tuple[int, bool]:
    """Record the drift of every bound group Microsoft reported. Returns (corrected,
    whether a group was busy and must be read again). On a full read every group is
    listed, and one without members simply has no `members@delta`."""
    corrected, busy = 0, False
    now = timezone.now()
    for microsoft_id, entry in seen.items():
        with transaction.atomic():
            binding = (
                GroupBinding.objects.select_for_update()
                .filter(pk=bound[microsoft_id], microsoft_id=microsoft_id)
                .first()
            )
            if binding is None:
                continue  # unbound meanwhile
            in_flight = (
                binding.claim_token and binding.claimed_until and binding.claimed_until > now
            )
            if in_flight or (binding.synced_at and binding.synced_at > started):
                busy = True
                continue
            drift, properties, members = _findings(binding, entry, full=full)
            if not drift:
                continue
            corrected += intent.binding_mark_dirty(
                bindings=GroupBinding.objects.filter(pk=binding.pk),
                actor_id=actor_id,
                known_properties=properties,
                known_members=members,
                drift=binding.drift_with(drift),
                next_attempt_at=None,
            )
    return corrected, busy
