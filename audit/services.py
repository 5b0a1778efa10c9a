"""Recording events. Callers run this inside their own transaction, so the event and
the change it describes are committed together or not at all."""

from collections.abc import Callable, Mapping
from typing import Any

from django.db import transaction

from .models import Event
from .redaction import assert_no_secrets

SYSTEM = "system"

# Functions called with each new event inside the transaction that records it (the
# webhook outboxes). They may only write rows; work for workers goes after commit.
EventSubscriber = Callable[[Event], None]
_subscribers: list[EventSubscriber] = []
# The same subscribers' way of taking many events of one organization at once (an
# import's chunk), where they have one: `subscriber -> subscriber_many(events)`.
_many: dict[EventSubscriber, Callable[[list[Event]], None]] = {}


def event_subscribe(
    subscriber: EventSubscriber, *, many: Callable[[list[Event]], None] | None = None
) -> EventSubscriber:
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)
    if many is not None:
        _many[subscriber] = many
    return subscriber


LABEL_LENGTH = Event._meta.get_field("target_label").max_length


def event_record(**fields) -> Event:
    """Append one event (the arguments of `event_new`). `target` may be any model with
    `event_target()`; `actor` is a user or None for scheduled work ("system")."""
    event = event_new(**fields)
    with transaction.atomic(savepoint=False):  # the event and what subscribers write
        event.save()
        for subscriber in _subscribers:
            subscriber(event)
    return event


def event_new(
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
    """An event not saved yet (`event_record` saves one, `events_record` many)."""
    if target is not None:
        target_type, target_id, target_label = target.event_target()
    details = dict(details or {})
    assert_no_secrets(details)
    return Event(
        organization=organization,
        type=type,
        actor=actor,
        actor_label=actor.email if actor is not None else SYSTEM,
        tenant_ref=str(tenant_ref or ""),
        tenant_label=_label(tenant_label),
        target_type=target_type,
        target_id=str(target_id),
        target_label=_label(target_label),
        outcome=outcome,
        details=details,
    )


def events_record(events: list[Event]) -> list[Event]:
    """Append many events of one organization (from `event_new`) in one insert, each
    subscriber told of them at once where it can be: a bulk import's events cost a few
    statements, not a few per event."""
    if not events:
        return events
    with transaction.atomic(savepoint=False):
        Event.objects.bulk_create(events)
        for subscriber in _subscribers:
            if subscriber in _many:
                _many[subscriber](events)
            else:
                for event in events:
                    subscriber(event)
    return events


def _label(text) -> str:
    """Labels are copies for display; a name longer than the column (a group may be
    named with 256 characters) is shortened rather than failing the change it records."""
    text = str(text or "")
    return text if len(text) <= LABEL_LENGTH else text[: LABEL_LENGTH - 1] + "…"
