"""Reads of the import (issue 12): the tenant's mirrored Microsoft 365 users with the
Import page's search, filters and sorts, the preview of a selection, and import jobs.

Every query takes the tenant (which the caller got through the organization), and a
page costs the same few queries at 1,000 or 50,000 mirrored users: each filter and
sort is a column of the mirror with an index beginning with the tenant."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.http import Http404

from directory.errors import InvalidInput

from .attributes import stratus_values
from .models import ImportItem, ImportJob, MirroredGroup, MirroredUser, Tenant, TenantMirror

SEARCH_MAX = 200
SORTS = {
    "name": ("display_name",),
    "email": ("email",),
    "upn": ("user_principal_name",),
    "department": ("department", "display_name"),
    "domain": ("domain", "display_name"),
    "status": ("status", "display_name"),
    "created": ("created_in_microsoft",),
}
_YES_NO = {"true": True, "false": False}
# What the search's one trigram index holds (migration 0018): name, email and UPN in one
# text, so that a page write inserts each row's trigrams once, not once per column. A
# search filters on it (the index) and then on each column (the exact test: a match
# across two of them is none).
MIRROR_SEARCH_TEXT = RawSQL(
    '"m365bridge_mirroreduser"."display_name" || \' \' || "m365bridge_mirroreduser"."email"'
    ' || \' \' || "m365bridge_mirroreduser"."user_principal_name"',
    [],
    output_field=TextField(),
)
PREVIEW_SAMPLE = 50


@dataclass(frozen=True)
class MirrorFilter:
    """What the admin asked for on the Import page (or `?` of the API)."""

    search: str = ""
    status: str = ""
    domain: str = ""
    department: str = ""
    enabled: bool | None = None
    licensed: bool | None = None
    sort: str = "name"

    def as_params(self) -> dict[str, str]:
        """The filter as query parameters again (links to the next page, a job's note)."""
        params = {
            "q": self.search,
            "status": self.status,
            "domain": self.domain,
            "department": self.department,
            "enabled": "" if self.enabled is None else str(self.enabled).lower(),
            "licensed": "" if self.licensed is None else str(self.licensed).lower(),
            "sort": "" if self.sort == "name" else self.sort,
        }
        return {key: value for key, value in params.items() if value}


def _yes_no(params: Mapping[str, str], name: str) -> bool | None:
    value = (params.get(name) or "").strip().lower()
    if not value:
        return None
    if value not in _YES_NO:
        raise InvalidInput.for_field(name, "Must be true or false.")
    return _YES_NO[value]


def mirror_filter_parse(params: Mapping[str, str]) -> MirrorFilter:
    """The filter from query parameters; a nonsense value is refused naming its field."""
    search = (params.get("q") or "").strip()
    if len(search) > SEARCH_MAX:
        raise InvalidInput.for_field("q", f"At most {SEARCH_MAX} characters.")
    status = _choice(params, "status", dict(MirroredUser.STATUSES))
    sort = _choice(params, "sort", SORTS, default="name")
    domain = (params.get("domain") or "").strip().lower()
    department = (params.get("department") or "").strip()
    for name, value in (("domain", domain), ("department", department)):
        if len(value) > 256:
            raise InvalidInput.for_field(name, "At most 256 characters.")
    return MirrorFilter(
        search=search,
        status=status,
        domain=domain,
        department=department,
        enabled=_yes_no(params, "enabled"),
        licensed=_yes_no(params, "licensed"),
        sort=sort,
    )


def mirrored_users_list(*, tenant: Tenant, filter: MirrorFilter) -> QuerySet[MirroredUser]:
    """The tenant's mirrored users that match, in the asked order (ties by id)."""
    rows = MirroredUser.objects.filter(tenant=tenant)
    if filter.search:
        rows = rows.alias(search_text=MIRROR_SEARCH_TEXT).filter(
            search_text__icontains=filter.search
        )
        rows = rows.filter(
            Q(display_name__icontains=filter.search)
            | Q(email__icontains=filter.search)
            | Q(user_principal_name__icontains=filter.search)
        )
    if filter.status:
        rows = rows.filter(status=filter.status)
    if filter.domain:
        rows = rows.filter(domain=filter.domain)
    if filter.department:
        rows = rows.filter(department=filter.department)
    if filter.enabled is not None:
        rows = rows.filter(account_enabled=filter.enabled)
    if filter.licensed is not None:
        rows = rows.filter(licensed=filter.licensed)
    descending = filter.sort.startswith("-")
    columns = SORTS[filter.sort.removeprefix("-")]
    order = [f"-{c}" if descending else c for c in columns]
    return rows.order_by(*order, "-pk" if descending else "pk").defer("properties")


GROUP_SORTS = {
    "name": ("display_name",),
    "status": ("status", "display_name"),
    "members": ("member_count", "display_name"),
    "created": ("created_in_microsoft",),
}


@dataclass(frozen=True)
class GroupFilter:
    """The Groups tab's search (name), status filter and sort."""

    search: str = ""
    status: str = ""
    sort: str = "name"

    def as_params(self) -> dict[str, str]:
        params = {
            "q": self.search,
            "status": self.status,
            "sort": "" if self.sort == "name" else self.sort,
        }
        return {key: value for key, value in params.items() if value}


def _choice(params: Mapping[str, str], name: str, choices, default: str = "") -> str:
    value = (params.get(name) or default).strip()
    if value and value.removeprefix("-" if name == "sort" else "") not in choices:
        suffix = " (with - for descending)" if name == "sort" else ""
        raise InvalidInput.for_field(name, "Must be one of: " + ", ".join(choices) + suffix + ".")
    return value


def group_filter_parse(params: Mapping[str, str]) -> GroupFilter:
    """The Groups tab's filter from query parameters; a nonsense value is refused naming
    its field."""
    search = (params.get("q") or "").strip()
    if len(search) > SEARCH_MAX:
        raise InvalidInput.for_field("q", f"At most {SEARCH_MAX} characters.")
    return GroupFilter(
        search=search,
        status=_choice(params, "status", dict(MirroredGroup.STATUSES)),
        sort=_choice(params, "sort", GROUP_SORTS, default="name"),
    )


def mirrored_groups_list(*, tenant: Tenant, filter: GroupFilter) -> QuerySet[MirroredGroup]:
    """The tenant's mirrored groups that match, in the asked order (ties by id); the
    member lists stay in the database."""
    rows = MirroredGroup.objects.filter(tenant=tenant)
    if filter.search:
        rows = rows.filter(display_name__icontains=filter.search)
    if filter.status:
        rows = rows.filter(status=filter.status)
    descending = filter.sort.startswith("-")
    columns = GROUP_SORTS[filter.sort.removeprefix("-")]
    order = [f"-{c}" if descending else c for c in columns]
    return rows.order_by(*order, "-pk" if descending else "pk").defer("members", "nested_groups")


def mirrored_groups_selected(
    *, tenant: Tenant, microsoft_ids: list[str] | None, filter: GroupFilter | None
) -> QuerySet[MirroredGroup]:
    """The groups of a preview or an import: ticked rows, or all that match."""
    if microsoft_ids is not None:
        return MirroredGroup.objects.filter(tenant=tenant, microsoft_id__in=microsoft_ids)
    return mirrored_groups_list(tenant=tenant, filter=filter or GroupFilter())


def mirrored_group_get(*, tenant: Tenant, microsoft_id: str) -> MirroredGroup:
    row = MirroredGroup.objects.filter(tenant=tenant, microsoft_id=microsoft_id).first()
    if row is None:
        raise Http404("No such Microsoft 365 group in this tenant.")
    return row


def mirrored_users_selected(
    *, tenant: Tenant, microsoft_ids: list[str] | None, filter: MirrorFilter | None
) -> QuerySet[MirroredUser]:
    """The selection of a preview or an import: ticked rows (in the order Microsoft
    listed them, so that of two sharing an address the same one imports every time), or
    all that match."""
    if microsoft_ids is not None:
        return MirroredUser.objects.filter(tenant=tenant, microsoft_id__in=microsoft_ids).order_by(
            "pk"
        )
    return mirrored_users_list(tenant=tenant, filter=filter or MirrorFilter())


def mirror_state(*, tenant: Tenant) -> TenantMirror | None:
    """How far the tenant's mirror is, and its filter choices (domains, departments)
    as the last read found them."""
    return TenantMirror.objects.filter(tenant=tenant).first()


@dataclass
class ImportPreview:
    """Nothing written yet: what importing the selection would do."""

    total: int
    to_import: int
    conflicts: int
    not_importable: int
    already_imported: int
    sample: list[dict]


def _status_counts(rows: QuerySet) -> dict[str, int]:
    return dict(
        rows.order_by().values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )


def import_preview(*, rows: QuerySet[MirroredUser]) -> ImportPreview:
    """Counts of the selection by status (one query) and, for its first users, the
    Stratus values an import would set."""
    counts = _status_counts(rows)
    sample = [
        {
            "microsoft_id": row.microsoft_id,
            "user_principal_name": row.user_principal_name,
            "status": row.status,
            "reason": row.reason,
            "stratus": {"email": row.email, **stratus_values(row.properties)},
        }
        for row in rows.defer(None)[:PREVIEW_SAMPLE]
    ]
    return _preview(counts, sample)


def _preview(counts: dict[str, int], sample: list[dict]) -> ImportPreview:
    """Users and groups share their four statuses."""
    return ImportPreview(
        total=sum(counts.values()),
        to_import=counts.get(MirroredUser.NEW, 0),
        conflicts=counts.get(MirroredUser.CONFLICT, 0),
        not_importable=counts.get(MirroredUser.NOT_IMPORTABLE, 0),
        already_imported=counts.get(MirroredUser.IMPORTED, 0),
        sample=sample,
    )


def group_import_preview(
    *, tenant: Tenant, rows: QuerySet[MirroredGroup], users: QuerySet[MirroredUser] | None
) -> ImportPreview:
    """Counts of the selected groups by status and, for the first groups, how many of
    their members will be in the Stratus group: those already imported and those the
    same import brings (`users`, the selected users); the others are left out."""
    counts = _status_counts(rows)
    first = list(rows.defer(None)[:PREVIEW_SAMPLE])
    member_ids = {m for row in first for m in row.members}
    coming = set(
        MirroredUser.objects.filter(
            tenant=tenant, microsoft_id__in=member_ids, status=MirroredUser.IMPORTED
        ).values_list("microsoft_id", flat=True)
    )
    if users is not None:
        coming |= set(
            users.filter(microsoft_id__in=member_ids, status=MirroredUser.NEW).values_list(
                "microsoft_id", flat=True
            )
        )
    sample = [
        {
            "microsoft_id": row.microsoft_id,
            "display_name": row.display_name,
            "status": row.status,
            "reason": row.reason,
            "member_count": row.member_count,
            "members_coming": len(coming.intersection(row.members)),
        }
        for row in first
    ]
    return _preview(counts, sample)


def mirrored_user_get(*, tenant: Tenant, microsoft_id: str) -> MirroredUser:
    row = MirroredUser.objects.filter(tenant=tenant, microsoft_id=microsoft_id).first()
    if row is None:
        raise Http404("No such Microsoft 365 user in this tenant.")
    return row


def import_job_get(*, tenant: Tenant, pk: int) -> ImportJob:
    job = ImportJob.objects.filter(tenant=tenant, pk=pk).first()
    if job is None:
        raise Http404("No such import.")
    return job


def import_job_list(*, tenant: Tenant, limit: int = 10) -> list[ImportJob]:
    return list(ImportJob.objects.filter(tenant=tenant).order_by("-created_at", "-pk")[:limit])


def import_items_unfinished(*, job: ImportJob) -> QuerySet[ImportItem]:
    """What did not import: the failures with their reasons, and the skipped; and the
    imported groups that left members out (each with why)."""
    complete = Q(outcome=ImportItem.IMPORTED) & (Q(kind=ImportItem.USER) | Q(members_left_out=[]))
    return job.items.exclude(outcome=ImportItem.PENDING).exclude(complete)
