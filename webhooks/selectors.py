"""Reads of webhooks, always for one organization."""

from django.db.models import Count, Min, Q, QuerySet
from django.shortcuts import get_object_or_404

from .models import Delivery, Endpoint


def endpoint_list(*, organization) -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(organization=organization).annotate(
        pending=Count("deliveries", filter=Q(deliveries__state=Delivery.PENDING))
    )


def endpoint_get(*, organization, pk: int) -> Endpoint:
    """The organization's endpoint, or 404 (another organization's too)."""
    return get_object_or_404(Endpoint, organization=organization, pk=pk)


def delivery_list(*, endpoint: Endpoint, state: str = "") -> QuerySet[Delivery]:
    """The endpoint's delivery log, newest first."""
    deliveries = endpoint.deliveries.all()
    if state:
        deliveries = deliveries.filter(state=state)
    return deliveries.order_by("-sequence", "-id").defer("body")


def backlog() -> dict:
    """Pending deliveries across the service and when the oldest was queued (metrics)."""
    return Delivery.objects.filter(state=Delivery.PENDING).aggregate(
        count=Count("id"), oldest=Min("created_at")
    )
