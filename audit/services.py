"""Recording events. Callers run this inside their own transaction, so the event and
the change it describes are committed together or not at all."""

from collections.abc import Callable, Mapping
from typing import Any

from django.db import transaction

from .context import acting_key
from .models import Event
from .redaction import assert_no_secrets

SYSTEM = "system"

# Functions called with each new event inside the transaction that records it (the
# webhook outboxes). They may only write rows; work for workers goes after commit.
EventSubscriber = Callable[[Event], None]
_subscribers: list[EventSubscriber] = []


def event_subscribe(subscriber: EventSubscriber) -> EventSubscriber:
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)
    return subscriber


LABEL_LENGTH = Event._meta.get_field("target_label").max_length


def event_record(
    *,
    organization,
    type: str,
    actor=None,
    target=None,
    target_type: str = "",
    target_id: str = "",
    target_label: str = "",
    outcome: str = Event.SUCCESS,
    details: Mapping[str, Any] | None = None,
    tenant_ref: str = "",
    tenant_label: str = "",
) -> Event:
    """Append one event. `target` may be any model with `event_target()`; `actor` is a
    user or None for scheduled work ("system")."""
    if target is not None:
        target_type, target_id, target_label = target.event_target()
    details = dict(details or {})
    assert_no_secrets(details)
    key = acting_key()
    with transaction.atomic(savepoint=False):  # the event and what subscribers write
        event = Event.objects.create(
            organization=organization,
            type=type,
            actor=actor,
            actor_label=actor.email if actor is not None else SYSTEM,
            api_key_id=key.id if key else None,
            api_key_label=_label(key.label) if key else "",
            tenant_ref=str(tenant_ref or ""),
            tenant_label=_label(tenant_label),
            target_type=target_type,
            target_id=str(target_id),
            target_label=_label(target_label),
            outcome=outcome,
            details=details,
        )
        for subscriber in _subscribers:
            subscriber(event)
    return event


def _label(text) -> str:
    """Labels are copies for display; a name longer than the column (a group may be
    named with 256 characters) is shortened rather than failing the change it records."""
    text = str(text or "")
    return text if len(text) <= LABEL_LENGTH else text[: LABEL_LENGTH - 1] + "…"
