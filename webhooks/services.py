"""Writes of webhooks: endpoints (create, change, rotate, delete, test) and delivery.

Delivery is at least once and in order per endpoint: the oldest pending delivery is
sent first and, while it fails, everything behind it waits (backing off up to
`WEBHOOK_RETRY_MAX_SECONDS` between tries). A delivery still failing
`WEBHOOK_RETRY_HOURS` after its event is given up, and the next one goes."""

import json
import logging
import random
import re
import secrets as secrets_
from dataclasses import dataclass
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import event_record
from directory import encryption
from directory.errors import InvalidInput
from directory.rows_load import RowsLoad

from . import signing, transport
from .models import Delivery, Endpoint, Stream

log = logging.getLogger(__name__)

DELIVER_TASK = "workers.tasks.webhook_deliver"
SECRET_OVERLAP = timedelta(hours=24)
RUN_LIMIT = 200  # deliveries one task sends before handing over to a fresh one
EVENT_TYPE_PATTERN = re.compile(r"^[a-z0-9_.]{1,64}\*?$")
TEST_EVENT_TYPE = "webhook_test"


# --- endpoints --------------------------------------------------------------------------
@transaction.atomic
def endpoint_create(
    *, actor, organization, url: str, description: str = "", event_types=()
) -> tuple[Endpoint, str]:
    """Create an endpoint and return it with its signing secret, shown this once only."""
    fields = _clean(url=url, description=description, event_types=event_types)
    secret = signing.secret_generate()
    endpoint = Endpoint.objects.create(
        organization=organization,
        secret_encrypted=encryption.encrypt(secret),
        created_by=actor,
        **fields,
    )
    Stream.objects.get_or_create(organization=organization)
    event_record(
        organization=organization,
        type="webhook_create",
        actor=actor,
        target=endpoint,
        details={"event_types": endpoint.event_types},
    )
    return endpoint, secret


@transaction.atomic
def endpoint_update(
    *, actor, endpoint: Endpoint, url: str, description: str, event_types, active: bool
) -> Endpoint:
    fields = _clean(url=url, description=description, event_types=event_types)
    fields["active"] = bool(active)
    changed = sorted(name for name, value in fields.items() if getattr(endpoint, name) != value)
    for name, value in fields.items():
        setattr(endpoint, name, value)
    if fields["active"]:
        endpoint.next_attempt_at = None  # switching back on tries at once
    endpoint.save()
    event_record(
        organization=endpoint.organization,
        type="webhook_update",
        actor=actor,
        target=endpoint,
        details={"changed": changed},
    )
    if fields["active"]:
        deliver_after_commit(endpoint_id=endpoint.pk)
    return endpoint


@transaction.atomic
def endpoint_rotate_secret(*, actor, endpoint: Endpoint) -> str:
    """A new secret, returned this once. The old one keeps signing alongside it (a
    second signature) for `SECRET_OVERLAP`, so receivers switch without a gap."""
    secret = signing.secret_generate()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_until = timezone.now() + SECRET_OVERLAP
    endpoint.secret_encrypted = encryption.encrypt(secret)
    endpoint.save(
        update_fields=[
            "previous_secret_encrypted",
            "previous_secret_until",
            "secret_encrypted",
            "updated_at",
        ]
    )
    event_record(
        organization=endpoint.organization,
        type="webhook_secret_rotate",
        actor=actor,
        target=endpoint,
    )
    return secret


@transaction.atomic
def endpoint_delete(*, actor, endpoint: Endpoint) -> None:
    organization = endpoint.organization
    target = endpoint.event_target()
    endpoint.delete()
    event_record(
        organization=organization,
        type="webhook_delete",
        actor=actor,
        target_type=target[0],
        target_id=target[1],
        target_label=target[2],
    )


@transaction.atomic
def endpoint_send_test(*, actor, endpoint: Endpoint) -> Delivery:
    """Queue a `webhook_test` event for this endpoint only, in its order like any other."""
    sequence = _next_sequence(organization_id=endpoint.organization_id)
    event_id = f"evt_test_{secrets_.token_hex(8)}"
    now = timezone.now()
    body = _body(
        event_id=event_id,
        type=TEST_EVENT_TYPE,
        timestamp=now,
        sequence=sequence,
        data={"message": "A test event sent from the Stratus console.", "sent_by": actor.email},
    )
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        sequence=sequence,
        event_id=event_id,
        event_type=TEST_EVENT_TYPE,
        body=body,
        created_at=now,
    )
    # An admin testing a receiver they just fixed wants it tried now, not after backoff.
    Endpoint.objects.filter(pk=endpoint.pk).update(next_attempt_at=None)
    deliver_after_commit(endpoint_id=endpoint.pk)
    return delivery


def _clean(*, url: str, description: str, event_types) -> dict:
    url = (url or "").strip()
    if not url:
        raise InvalidInput.for_field("url", "Give the URL that receives the events.")
    if len(url) > 2000:
        raise InvalidInput.for_field("url", "At most 2,000 characters.")
    problem = transport.url_problem(url)
    if problem:
        raise InvalidInput.for_field("url", problem)
    description = (description or "").strip()
    if len(description) > 200:
        raise InvalidInput.for_field("description", "At most 200 characters.")
    if isinstance(event_types, str):
        event_types = re.split(r"[\s,]+", event_types)
    types = sorted({t.strip() for t in event_types if t and t.strip()})
    bad = [t for t in types if not EVENT_TYPE_PATTERN.match(t)]
    if bad:
        raise InvalidInput.for_field(
            "event_types",
            f"Not an event type: {', '.join(bad)}. Use names like user_create, or user_* "
            "for every type that starts with user_.",
        )
    return {"url": url, "description": description, "event_types": types}


# --- the outbox -------------------------------------------------------------------------
# An organization's endpoints, from SQL built once: every recorded batch of events asks.
_ENDPOINTS = RowsLoad(Endpoint, key="organization")


def on_events_recorded(events) -> None:
    """audit's subscriber: runs in the transaction that records `events`, so the events
    and their deliveries commit together or not at all (each organization's endpoints
    are read once per call, however many events it brings)."""
    endpoints_of: dict[int, list[Endpoint]] = {}
    for event in events:
        if event.organization_id is None:
            continue
        if event.organization_id not in endpoints_of:
            # Paused endpoints too: pausing holds delivery, it does not drop events.
            endpoints_of[event.organization_id] = _ENDPOINTS.load([event.organization_id])
        endpoints = [e for e in endpoints_of[event.organization_id] if e.matches(event.type)]
        if endpoints:
            _deliveries_create(event, endpoints)


def _deliveries_create(event, endpoints: list[Endpoint]) -> None:
    from audit.api import EventOutputSerializer

    sequence = _next_sequence(organization_id=event.organization_id)
    event_id = f"evt_{event.pk}"
    body = _body(
        event_id=event_id,
        type=event.type,
        timestamp=event.created_at,
        sequence=sequence,
        data=EventOutputSerializer(event).data,
    )
    Delivery.objects.bulk_create(
        Delivery(
            endpoint=endpoint,
            sequence=sequence,
            event_id=event_id,
            event_type=event.type,
            body=body,
            created_at=event.created_at,
        )
        for endpoint in endpoints
    )
    for endpoint in endpoints:
        deliver_after_commit(endpoint_id=endpoint.pk)


def _next_sequence(*, organization_id: int) -> int:
    """One statement: the increment takes the row lock that orders commits."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Stream._meta.db_table} SET last_sequence = last_sequence + 1 "  # noqa: S608
            "WHERE organization_id = %s RETURNING last_sequence",
            [organization_id],
        )
        row = cursor.fetchone()
    if row is not None:
        return row[0]
    Stream.objects.get_or_create(organization_id=organization_id)  # made with the endpoint
    return _next_sequence(organization_id=organization_id)


def _body(*, event_id: str, type: str, timestamp, sequence: int, data) -> str:
    payload = {
        "id": event_id,
        "type": type,
        "timestamp": timestamp,
        "sequence": sequence,
        "data": data,
    }
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"))


# --- delivery ---------------------------------------------------------------------------
@dataclass
class DeliveryRun:
    claimed: bool = False
    delivered: int = 0
    gave_up: int = 0
    failed: bool = False
    more: bool = False


def endpoint_deliver(*, endpoint_id: int, limit: int = RUN_LIMIT) -> DeliveryRun:
    """Send the endpoint's pending deliveries in order, as the only worker doing so.
    Safe to run twice or on two machines at once: the second finds the claim taken."""
    run = DeliveryRun()
    token = _claim(endpoint_id=endpoint_id)
    if token is None:
        return run
    run.claimed = True
    try:
        endpoint = Endpoint.objects.get(pk=endpoint_id)
        with transport.session() as session:  # one connection for the run (keep-alive)
            for delivery in _pending(endpoint)[:limit]:
                if not _attempt(
                    endpoint=endpoint, delivery=delivery, token=token, session=session, run=run
                ):
                    break
            else:
                run.more = _pending(endpoint).exists()
    finally:
        _release(endpoint_id=endpoint_id, token=token)
    if run.more:
        deliver_send(endpoint_id=endpoint_id)
    return run


def endpoints_due() -> list[int]:
    """Queue delivery for every endpoint with pending deliveries that is not backing off
    and that no worker holds. The schedule runs this, so no lost task loses an event."""
    now = timezone.now()
    due = list(
        Endpoint.objects.filter(active=True, deliveries__state=Delivery.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .values_list("pk", flat=True)
        .distinct()
    )
    for endpoint_id in due:
        deliver_send(endpoint_id=endpoint_id)
    return due


def deliveries_prune() -> int:
    """Forget finished deliveries older than `WEBHOOK_LOG_DAYS` (the log would grow
    forever); pending ones are never pruned."""
    cutoff = timezone.now() - timedelta(days=settings.WEBHOOK_LOG_DAYS)
    finished = Delivery.objects.filter(
        state__in=[Delivery.DELIVERED, Delivery.FAILED], created_at__lt=cutoff
    )
    deleted, _ = finished.delete()
    return deleted


def _pending(endpoint: Endpoint):
    return endpoint.deliveries.filter(state=Delivery.PENDING).order_by("sequence", "id")


def _attempt(*, endpoint: Endpoint, delivery: Delivery, token: str, session, run) -> bool:
    """Try one delivery; True when the next one may go (it was delivered or given up,
    and the claim is still this worker's)."""
    now = timezone.now()
    headers = signing.signature_headers(
        event_id=delivery.event_id,
        body=delivery.body,
        secrets=endpoint.signing_secrets(now=now),
        at=now,
    )
    attempts = delivery.attempts + 1
    try:
        status = transport.send(
            url=endpoint.url, body=delivery.body, headers=headers, session=session
        )
    except transport.SendFailed as failure:
        return _failed(
            endpoint=endpoint, delivery=delivery, failure=failure, attempts=attempts, run=run
        )
    Delivery.objects.filter(pk=delivery.pk).update(
        state=Delivery.DELIVERED,
        attempts=attempts,
        last_attempt_at=now,
        delivered_at=timezone.now(),
        last_status=status,
        last_error="",
    )
    run.delivered += 1
    # Renews the claim in the same statement; 0 rows: the lease ran out and another
    # worker took over, so this one stops.
    still_ours = Endpoint.objects.filter(pk=endpoint.pk, claim_token=token).update(
        last_success_at=now, next_attempt_at=None, last_error="", claimed_until=now + _lease()
    )
    return still_ours == 1


def _failed(*, endpoint, delivery, failure, attempts: int, run: DeliveryRun) -> bool:
    now = timezone.now()
    give_up = now - delivery.created_at >= timedelta(hours=settings.WEBHOOK_RETRY_HOURS)
    Delivery.objects.filter(pk=delivery.pk).update(
        state=Delivery.FAILED if give_up else Delivery.PENDING,
        attempts=attempts,
        last_attempt_at=now,
        last_status=failure.status,
        last_error=failure.message[:500],
    )
    Endpoint.objects.filter(pk=endpoint.pk).update(
        last_failure_at=now,
        last_error=failure.message[:500],
        next_attempt_at=None if give_up else now + _backoff(attempts),
    )
    log.info(
        "webhook delivery %s to endpoint %s failed (attempt %s): %s",
        delivery.event_id,
        endpoint.pk,
        attempts,
        failure.message,
    )
    if give_up:
        run.gave_up += 1
        return True
    run.failed = True
    return False


def _backoff(attempts: int) -> timedelta:
    """30 s, 1, 2, 4, 8 min, then every `WEBHOOK_RETRY_MAX_SECONDS`, with jitter so
    endpoints that failed together are not retried in lockstep."""
    seconds = min(30 * 2 ** (attempts - 1), settings.WEBHOOK_RETRY_MAX_SECONDS)
    return timedelta(seconds=seconds * random.uniform(1.0, 1.1))


def _claim(*, endpoint_id: int) -> str | None:
    now = timezone.now()
    token = secrets_.token_hex(16)
    changed = (
        Endpoint.objects.filter(pk=endpoint_id, active=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(claim_token=token, claimed_until=now + _lease())
    )
    return token if changed == 1 else None


def _release(*, endpoint_id: int, token: str) -> None:
    Endpoint.objects.filter(pk=endpoint_id, claim_token=token).update(
        claim_token="", claimed_until=None
    )


def _lease() -> timedelta:
    return timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)


def deliver_after_commit(*, endpoint_id: int) -> None:
    transaction.on_commit(lambda: deliver_send(endpoint_id=endpoint_id))


def deliver_send(*, endpoint_id: int) -> None:
    """Queue the endpoint's delivery task. Losing it loses nothing: the sweep resends."""
    app = current_app
    try:
        if app.conf.task_always_eager:  # development without a worker: run it here
            app.loader.import_default_modules()
            app.tasks[DELIVER_TASK].apply(args=[endpoint_id])
        else:  # by name: webhooks does not import workers
            app.send_task(DELIVER_TASK, args=[endpoint_id])
    except Exception as exc:
        log.warning(
            "could not queue webhook delivery for endpoint %s (%s); the sweep will retry",
            endpoint_id,
            type(exc).__name__,
        )
