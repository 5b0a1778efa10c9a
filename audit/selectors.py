"""Reads of the event log, always for one organization."""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import Http404

from .models import Event
from .services import SYSTEM


def event_list(
    *,
    organization,
    type: str = "",
    outcome: str = "",
    target_type: str = "",
    target_id: str = "",
    user: str = "",
    tenant_ref: str = "",
    actor: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Event]:
    """Newest first. Each filter narrows the list; empty ones are ignored.

    `user` is the target user's id or email, `actor` the acting user's id or email or
    `system`, `tenant_ref` the tenant's id as recorded on the event; `since` is
    inclusive and `until` exclusive."""
    events = Event.objects.for_organization(organization)
    if type:
        events = events.filter(type=type)
    if outcome:
        events = events.filter(outcome=outcome)
    if target_type:
        events = events.filter(target_type=target_type)
    if target_id:
        events = events.filter(target_id=str(target_id))
    if user:
        events = events.filter(_target_user(organization=organization, user=str(user)))
    if tenant_ref:
        events = events.filter(tenant_ref=str(tenant_ref))
    if actor:
        events = events.filter(_actor(str(actor)))
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events.order_by("-created_at", "-id")


def _target_user(*, organization, user: str) -> Q:
    """Events about one user. By email it also finds events recorded under an earlier
    email of the same user (by id) and those of a deleted user (by the label, which is
    the email the user had when the event was written)."""
    user = user.strip()
    if user.isdigit():
        return Q(target_type="user", target_id=user)
    email = user.lower()
    pk = (
        get_user_model()
        .objects.filter(organization=organization, email=email)
        .values_list("pk", flat=True)
        .first()
    )
    match = Q(target_label=email)
    if pk is not None:
        match |= Q(target_id=str(pk))
    return Q(target_type="user") & match


def _actor(actor: str) -> Q:
    actor = actor.strip()
    if actor.isdigit():
        return Q(actor_id=int(actor))
    # The label is the actor's email as it was when the event was written, or "system".
    return Q(actor_label=SYSTEM if actor.lower() == SYSTEM else actor.lower())


def event_get(*, organization, pk) -> Event:
    try:
        return Event.objects.for_organization(organization).get(pk=int(pk))
    except (Event.DoesNotExist, ValueError, TypeError):
        raise Http404("No such event.") from None


def event_types(*, organization) -> list[str]:
    """The event types the organization has, for a filter's choices."""
    return [value for (value,) in _distinct(organization=organization, column="type")]


def event_tenants(*, organization) -> list[tuple[str, str]]:
    """The tenants the organization's events name, as (tenant_ref, latest label) pairs
    sorted by label, for a filter's choices."""
    latest_label = (
        "(SELECT e.tenant_label FROM audit_event e WHERE e.organization_id = %s"
        " AND e.tenant_ref = found.value ORDER BY e.created_at DESC, e.id DESC LIMIT 1)"
    )
    rows = _distinct(organization=organization, column="tenant_ref", also=latest_label)
    tenants = [(ref, label or ref) for ref, label in rows]
    return sorted(tenants, key=lambda tenant: (tenant[1].lower(), tenant[0]))


# A loose index scan: each step jumps to the next larger value in the index on
# (organization, <column>, ...), so the cost follows the number of distinct values (a
# handful of types or tenants), not the number of events (millions), which SELECT
# DISTINCT would read. Plain SQL because the ORM has no recursive queries; the column
# names and `also` come from this module, never from input.
_DISTINCT_SQL = """
WITH RECURSIVE found(value) AS (
    SELECT MIN({column}) FROM audit_event WHERE organization_id = %s AND {column} > ''
    UNION ALL
    SELECT (SELECT MIN({column}) FROM audit_event
            WHERE organization_id = %s AND {column} > found.value)
    FROM found WHERE found.value IS NOT NULL
)
SELECT value{also} FROM found WHERE value IS NOT NULL ORDER BY value
"""


def _distinct(*, organization, column: str, also: str = "") -> list[tuple]:
    assert column in {"type", "tenant_ref"}  # each leads an index after organization
    sql = _DISTINCT_SQL.format(column=column, also=f", {also}" if also else "")
    params = [organization.pk, organization.pk] + ([organization.pk] if also else [])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
