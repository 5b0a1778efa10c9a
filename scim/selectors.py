"""Reads for SCIM: the organization's users and groups, filtered, sorted and paged as
a SCIM list request asks. Every queryset starts from the caller's organization."""

from dataclasses import dataclass

from django.db.models import BooleanField, Case, F, QuerySet, Value, When
from django.http import Http404

from directory.models import Group, Organization, User

from .errors import ScimError
from .filters import GROUP_ATTRIBUTES, USER_ATTRIBUTES, filter_apply
from .schemas import DEFAULT_COUNT, ENTERPRISE_SCHEMA, MAX_RESULTS

_USER_SORT = {
    "id": "pk",
    "username": "email",
    "externalid": "scim__external_id",
    "name.givenname": "first_name",
    "name.familyname": "last_name",
    "displayname": "display_name",
    "title": "job_title",
    "meta.created": "created_at",
    "employeenumber": "employee_id",
    "department": "department",
}
_GROUP_SORT = {
    "id": "pk",
    "displayname": "name",
    "externalid": "scim__external_id",
    "meta.created": "created_at",
}


@dataclass
class Page:
    items: list
    total: int
    start_index: int


def scim_users(*, organization: Organization) -> QuerySet[User]:
    return (
        User.objects.for_organization(organization)
        .select_related("scim", "scim__manager")
        .annotate(
            scim_active=Case(
                When(status=User.SUSPENDED, then=Value(False)),
                default=Value(True),
                output_field=BooleanField(),
            )
        )
    )


def scim_user_get(*, organization: Organization, pk: str, lock: bool = False) -> User:
    """`lock` holds the row until the transaction ends, so an If-Match check and the
    write it guards see the same version."""
    users = scim_users(organization=organization)
    return _get(users.select_for_update(of=("self",)) if lock else users, pk, "User")


def scim_groups(*, organization: Organization) -> QuerySet[Group]:
    return Group.objects.for_organization(organization).select_related("scim")


def scim_group_get(*, organization: Organization, pk: str, lock: bool = False) -> Group:
    groups = scim_groups(organization=organization)
    return _get(groups.select_for_update(of=("self",)) if lock else groups, pk, "Group")


def _get(queryset, pk, kind):
    if not str(pk).isdigit():
        raise Http404(f"No such {kind}: {pk}.")
    found = queryset.filter(pk=int(pk)).first()
    if found is None:
        raise Http404(f"No such {kind}: {pk}.")
    return found


def scim_user_page(*, organization: Organization, params) -> Page:
    users = scim_users(organization=organization)
    return _page(users, params, USER_ATTRIBUTES, _USER_SORT)


def scim_group_page(*, organization: Organization, params) -> Page:
    groups = scim_groups(organization=organization)
    return _page(groups, params, GROUP_ATTRIBUTES, _GROUP_SORT)


def _page(queryset, params, attributes, sorts) -> Page:
    if params.get("filter"):
        queryset = filter_apply(queryset, params["filter"], attributes=attributes)
    queryset = queryset.order_by(*_ordering(params, sorts))
    start = max(_integer(params, "startIndex", 1), 1)
    count = min(max(_integer(params, "count", DEFAULT_COUNT), 0), MAX_RESULTS)
    total = queryset.count()
    items = list(queryset[start - 1 : start - 1 + count]) if count else []
    return Page(items=items, total=total, start_index=start)


def _ordering(params, sorts) -> list:
    sort_by = (params.get("sortBy") or "").strip()
    if not sort_by:
        return ["pk"]
    key = sort_by.lower().removeprefix(ENTERPRISE_SCHEMA.lower() + ":")
    key = key.rsplit(":", 1)[-1] if key.startswith("urn:") else key
    if key not in sorts:
        raise ScimError(400, f"Cannot sort by {sort_by}.", "invalidValue")
    order = (params.get("sortOrder") or "ascending").lower()
    if order not in ("ascending", "descending"):
        raise ScimError(400, "sortOrder must be ascending or descending.", "invalidValue")
    field = F(sorts[key])
    field = field.desc(nulls_last=True) if order == "descending" else field.asc(nulls_last=True)
    return [field, "pk"]


def _integer(params, name, default) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ScimError(400, f"{name} must be a whole number.", "invalidValue") from None
