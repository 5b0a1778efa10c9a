"""The tenant's mirror of its Microsoft 365 groups (issue 12, I3), written by the
reconcile's own `groups/delta` read (`group_reconcile`): one read of Microsoft serves
the bound groups' drift check and the Import page's Groups tab.

Each page is written as it streams (`GroupMirrorRound.page_write`): one upsert of the
groups it lists with their members, so the tenant's groups and their members are never
held beyond a page. A delta page lists only changed groups, their changed properties and
`members@delta` (additions, and `@removed` removals): it is merged into what the mirror
holds. Microsoft may list a large group's members over several pages of one round; a
group seen again in the same round adds to the members the round already wrote.

Import status of a mirrored group: `not_importable` with the reason (a Microsoft 365
group, a distribution list, a mail-enabled security group, dynamic membership, synced
from on-premises AD), `imported` (a group binding of this tenant has its id), `conflict`
(a Stratus group of the organization has that name, unlinked) or `new`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models.functions import Lower
from django.utils import timezone

from directory.models import Group

from ..models import GroupBinding, MirroredGroup, Tenant, TenantMirror
from .mirror import moment_parse

# What the mirror keeps besides what the drift check reads (`members` is delta's
# navigation property: it brings `members@delta`).
GROUP_MIRROR_PROPERTIES = (
    "mailEnabled",
    "securityEnabled",
    "groupTypes",
    "onPremisesSyncEnabled",
    "createdDateTime",
)

UNIFIED = (
    "A Microsoft 365 group (Unified): Stratus syncs security groups only, so it cannot be imported."
)
DISTRIBUTION = "A distribution list (mail-enabled, not a security group): it cannot be imported."
MAIL_SECURITY = (
    "A mail-enabled security group: Microsoft 365 manages it through Exchange and refuses "
    "Graph changes to it, so it cannot be imported."
)
DYNAMIC = "Its members are set by a rule (dynamic membership): Stratus cannot manage them."
ON_PREMISES = "Synced from on-premises Active Directory: Microsoft 365 refuses cloud changes to it."
NOT_SECURITY = "Not a security group: it cannot be imported."

_UPDATED = [
    "organization",
    "display_name",
    "description",
    "mail_enabled",
    "security_enabled",
    "group_types",
    "on_premises_sync",
    "members",
    "nested_groups",
    "member_count",
    "created_in_microsoft",
    "status",
    "reason",
    "read_at",
]


def group_unimportable(properties: dict) -> str:
    """Why this Microsoft group cannot be imported as a Stratus security group, or ""."""
    types = properties.get("groupTypes") or []
    mail, security = properties.get("mailEnabled") is True, properties.get("securityEnabled")
    if "Unified" in types:
        return UNIFIED
    if mail and security:
        return MAIL_SECURITY
    if mail:
        return DISTRIBUTION
    if security is not True:
        return NOT_SECURITY
    if "DynamicMembership" in types:
        return DYNAMIC
    if properties.get("onPremisesSyncEnabled") is True:
        return ON_PREMISES
    return ""


def _held_properties(row: MirroredGroup) -> dict:
    return {
        "displayName": row.display_name,
        "description": row.description,
        "mailEnabled": row.mail_enabled,
        "securityEnabled": row.security_enabled,
        "groupTypes": row.group_types,
        "onPremisesSyncEnabled": row.on_premises_sync,
        "createdDateTime": row.created_in_microsoft.isoformat()
        if row.created_in_microsoft
        else None,
    }


def _fill(row: MirroredGroup, properties: dict) -> None:
    row.display_name = (properties.get("displayName") or "")[:256]
    row.description = properties.get("description") or ""
    row.mail_enabled = properties.get("mailEnabled") is True
    row.security_enabled = properties.get("securityEnabled") is True
    row.group_types = [t for t in properties.get("groupTypes") or [] if isinstance(t, str)]
    row.on_premises_sync = properties.get("onPremisesSyncEnabled") is True
    row.created_in_microsoft = moment_parse(properties.get("createdDateTime"))
    row.member_count = len(row.members) + len(row.nested_groups)
    row.reason = group_unimportable(properties)
    row.status = MirroredGroup.NOT_IMPORTABLE if row.reason else MirroredGroup.NEW


def mirrored_groups_classify(*, tenant: Tenant, rows: list[MirroredGroup]) -> None:
    """Mark importable rows `imported` (bound in this tenant) or `conflict` (a Stratus
    group of the organization has that name). Two queries per call."""
    candidates = [r for r in rows if r.status != MirroredGroup.NOT_IMPORTABLE]
    if not candidates:
        return
    bound = set(
        GroupBinding.objects.filter(
            tenant=tenant, microsoft_id__in=[r.microsoft_id for r in candidates]
        ).values_list("microsoft_id", flat=True)
    )
    names = {r.display_name.lower() for r in candidates}
    taken = set(
        Group.objects.for_organization(tenant.organization_id)
        .annotate(lower_name=Lower("name"))
        .filter(lower_name__in=names)
        .values_list("lower_name", flat=True)
    )
    for row in candidates:
        if row.microsoft_id in bound:
            row.status = MirroredGroup.IMPORTED
        elif row.display_name.lower() in taken:
            row.status = MirroredGroup.CONFLICT
        else:
            row.status = MirroredGroup.NEW


def mirrored_groups_reclassify(*, tenant: Tenant, microsoft_ids: list[str]) -> None:
    """Refresh the status of these mirrored groups (after an import or a link)."""
    rows = list(MirroredGroup.objects.filter(tenant=tenant, microsoft_id__in=microsoft_ids))
    for row in rows:
        row.reason = group_unimportable(_held_properties(row))
        row.status = MirroredGroup.NOT_IMPORTABLE if row.reason else MirroredGroup.NEW
    mirrored_groups_classify(tenant=tenant, rows=rows)
    MirroredGroup.objects.bulk_update(rows, ["status", "reason"])


def _member_changes(item: dict) -> tuple[set[str], set[str], set[str], set[str]]:
    """(users added, users removed, groups added, groups removed) of one delta entry."""
    users_added, users_removed, groups_added, groups_removed = set(), set(), set(), set()
    for member in item.get("members@delta") or []:
        member_id = str(member.get("id", ""))
        if not member_id:
            continue
        is_group = "group" in str(member.get("@odata.type", "")).lower()
        if "@removed" in member:
            (groups_removed if is_group else users_removed).add(member_id)
        else:
            (groups_added if is_group else users_added).add(member_id)
    return users_added, users_removed, groups_added, groups_removed


@dataclass
class GroupMirrorRound:
    """The mirror's side of one `groups/delta` round."""

    tenant: Tenant
    select: str
    started: datetime = field(default_factory=timezone.now)
    full: bool = False
    touched: set[str] = field(default_factory=set)  # ids written this round

    def begin(self, *, full: bool) -> None:
        self.full = full
        self.started = timezone.now()
        self.touched = set()

    def page_write(self, items: list[dict]) -> None:
        """Upsert the groups one page lists (merged with what the mirror holds) and delete
        those it reports removed."""
        removed = [str(i["id"]) for i in items if "@removed" in i and i.get("id")]
        present = {str(i["id"]): i for i in items if "@removed" not in i and i.get("id")}
        if removed:
            MirroredGroup.objects.filter(tenant=self.tenant, microsoft_id__in=removed).delete()
            self.touched.difference_update(removed)
        if not present:
            return
        held = {
            row.microsoft_id: row
            for row in MirroredGroup.objects.filter(
                tenant=self.tenant, microsoft_id__in=list(present)
            )
        }
        rows = [self._row(i, item, held.get(i)) for i, item in present.items()]
        mirrored_groups_classify(tenant=self.tenant, rows=rows)
        MirroredGroup.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["tenant", "microsoft_id"],
            update_fields=_UPDATED,
        )
        self.touched.update(present)

    def _row(self, microsoft_id: str, item: dict, held: MirroredGroup | None) -> MirroredGroup:
        properties = _held_properties(held) if held is not None else {}
        properties.update({k: v for k, v in item.items() if not k.startswith("@")})
        users_added, users_removed, groups_added, groups_removed = _member_changes(item)
        fresh = self.full and microsoft_id not in self.touched  # first listing of a full read
        members = set() if fresh or held is None else set(held.members)
        nested = set() if fresh or held is None else set(held.nested_groups)
        row = MirroredGroup(
            organization_id=self.tenant.organization_id,
            tenant=self.tenant,
            microsoft_id=microsoft_id,
            members=sorted((members | users_added) - users_removed),
            nested_groups=sorted((nested | groups_added) - groups_removed),
            read_at=self.started,
        )
        _fill(row, properties)
        return row

    def end(self, *, full: bool) -> None:
        """After a full read the mirror lists exactly the groups Microsoft listed."""
        if not full:
            return
        MirroredGroup.objects.filter(tenant=self.tenant, read_at__lt=self.started).delete()
        TenantMirror.objects.update_or_create(
            tenant=self.tenant,
            defaults={"group_select": self.select, "groups_filled_at": timezone.now()},
        )


def group_mirror_current(*, tenant: Tenant, select: str) -> bool:
    """Whether the tenant's groups delta link can keep the mirror current: it was filled
    by a full read with this very `$select`."""
    return TenantMirror.objects.filter(
        tenant=tenant, group_select=select, groups_filled_at__isnull=False
    ).exists()
