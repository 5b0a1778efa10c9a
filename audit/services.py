"""Recording events. Callers run this inside their own transaction, so the event and
the change it describes are committed together or not at all.

`events_batched()` gathers the events recorded inside it and writes them with one
INSERT when it ends (still inside the caller's transaction): the sync engine records a
whole `$batch` of outcomes that way instead of one INSERT per event."""

import contextvars
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from directory.json_insert import json_rows_insert

from .context import acting_key
from .models import Event
from .redaction import assert_no_secrets

SYSTEM = "system"

# Functions called with the new events (a list, in the order they were recorded) inside
# the transaction that records them (the webhook outboxes). They may only write rows;
# work for workers goes after commit.
EventSubscriber = Callable[[list[Event]], None]
_subscribers: list[EventSubscriber] = []
_batch: contextvars.ContextVar[list[Event] | None] = contextvars.ContextVar(
    "audit_event_batch", default=None
)


def event_subscribe(subscriber: EventSubscriber) -> EventSubscriber:
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)
    return subscriber


LABEL_LENGTH = Event._meta.get_field("target_label").max_length


def event_record(**fields) -> Event:
    """Append one event (the arguments of `event_new`). `target` may be any model with
    `event_target()`; `actor` is a user or None for scheduled work ("system")."""
    event = event_new(**fields)
    batch = _batch.get()
    if batch is not None:
        batch.append(event)  # written when the batch ends (`events_batched`)
        return event
    _events_write([event])
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
    key = acting_key()
    return Event(
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


def events_record(events: list[Event]) -> list[Event]:
    """Append many events (from `event_new`) in one insert, the subscribers told of them
    at once: a bulk import's events cost a few statements, not a few per event. Inside
    `events_batched` they join its batch."""
    batch = _batch.get()
    if batch is not None:
        batch.extend(events)
    elif events:
        _events_write(events)
    return events


@contextmanager
def events_batched() -> Iterator[list[Event]]:
    """Events recorded inside are written together, with one INSERT, when it ends
    without an error (inside the caller's transaction, which must be open); on an error
    none is written. Nested use joins the outer batch."""
    if _batch.get() is not None:
        yield _batch.get()
        return
    events: list[Event] = []
    reset = _batch.set(events)
    try:
        yield events
    finally:
        _batch.reset(reset)
    if events:
        _events_write(events)


def _events_write(events: list[Event]) -> None:
    with transaction.atomic(savepoint=False):  # the events and what subscribers write
        if len(events) == 1:
            events[0].save()
        elif connection.vendor == "postgresql":
            _events_insert_json(events)
        else:
            Event.objects.bulk_create(events)
        for subscriber in _subscribers:
            subscriber(events)


# What an event row holds besides its id and time, by attribute name.
_EVENT_COLUMNS = tuple(
    f.attname for f in Event._meta.concrete_fields if f.name not in ("id", "created_at")
)


def _events_insert_json(events: list[Event]) -> None:
    """The events in one INSERT of a JSON document (`directory.json_insert`), all at one
    time, their ids set on them: `bulk_create` compiled and adapted each value in Python,
    the largest part of recording a `$batch` of outcomes."""
    now = timezone.now()
    rows = [{name: getattr(event, name) for name in _EVENT_COLUMNS} for event in events]
    written = json_rows_insert(Event, fixed={"created_at": now}, rows=rows, returning=("id",))
    for event, (pk,) in zip(events, written, strict=True):
        event.pk, event.created_at = pk, now
        event._state.adding, event._state.db = False, connection.alias


def _label(text) -> str:
    """Labels are copies for display; a name longer than the column (a group may be
    named with 256 characters) is shortened rather than failing the change it records."""
    text = str(text or "")
    return text if len(text) <= LABEL_LENGTH else text[: LABEL_LENGTH - 1] + "…"
