"""Reads of the event log, always for one organization."""

from datetime import datetime

from django.db.models import QuerySet
from django.http import Http404

from .models import Event


def event_list(
    *, organization, type: str = "", outcome: str = "", target_type: str = "",
    target_id: str = "", tenant_ref: str = "", since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Event]:
    """Newest first. Each filter narrows the list; empty ones are ignored."""
    events = Event.objects.for_organization(organization)
    if type:
        events = events.filter(type=type)
    if outcome:
        events = events.filter(outcome=outcome)
    if target_type:
        events = events.filter(target_type=target_type)
    if target_id:
        events = events.filter(target_id=str(target_id))
    if tenant_ref:
        events = events.filter(tenant_ref=str(tenant_ref))
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events.order_by("-created_at", "-id")


def event_get(*, organization, pk) -> Event:
    try:
        return Event.objects.for_organization(organization).get(pk=int(pk))
    except (Event.DoesNotExist, ValueError, TypeError):
        raise Http404("No such event.") from None


def event_types(*, organization) -> list[str]:
    return list(
        Event.objects.for_organization(organization).order_by("type")
        .values_list("type", flat=True).distinct()
    )
