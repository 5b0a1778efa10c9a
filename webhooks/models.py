"""Webhook endpoints of an organization and their outbox of deliveries.

An event reaches an endpoint's outbox in the transaction that recorded it
(`services.on_events_recorded`), so the outbox is exactly the committed events; workers
then deliver each endpoint's outbox in `sequence` order, one worker per endpoint at a
time (a lease taken with a conditional UPDATE, like m365bridge's bindings)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils import timezone

from directory import encryption


class Stream(models.Model):
    """The organization's event counter. Taking the next number locks this row until
    the recording transaction commits, so sequence numbers commit in order: a worker
    never sees number n+1 before n, and the outbox order is the commit order."""

    organization = models.OneToOneField(
        "directory.Organization", on_delete=models.CASCADE, related_name="webhook_stream"
    )
    last_sequence = models.BigIntegerField(default=0)

    def __str__(self):
        return f"stream of organization {self.organization_id} at {self.last_sequence}"


class Endpoint(models.Model):
    """An HTTPS URL that receives the organization's events, signed with its secret
    (Standard Webhooks), optionally only events of some types."""

    organization = models.ForeignKey(
        "directory.Organization", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # Event types sent; "user.*" matches a prefix; empty: every event.
    event_types = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    secret_encrypted = models.TextField(editable=False)
    # After a rotation deliveries carry a signature with each secret for a while, so the
    # receiver can switch to the new one without losing an event.
    previous_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Delivery state: the worker holding the endpoint, and when the oldest pending
    # delivery may be tried again (everything behind it waits: order is kept).
    claim_token = models.CharField(max_length=32, blank=True, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=500, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["organization", "active"])]

    def __str__(self):
        return self.host

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    def event_target(self) -> tuple[str, str, str]:
        # The host only: a receiver's path or query may hold its own token.
        return "webhook", str(self.pk), self.host

    def matches(self, event_type: str) -> bool:
        if not self.event_types:
            return True
        return any(
            event_type == wanted or (wanted.endswith("*") and event_type.startswith(wanted[:-1]))
            for wanted in self.event_types
        )

    def signing_secrets(self, *, now=None) -> list[str]:
        """The secrets to sign with: the current one, and the previous one while the
        rotation's overlap lasts."""
        now = now or timezone.now()
        secrets = [encryption.decrypt(self.secret_encrypted)]
        if (
            self.previous_secret_encrypted
            and self.previous_secret_until
            and now < (self.previous_secret_until)
        ):
            secrets.append(encryption.decrypt(self.previous_secret_encrypted))
        return secrets


class Delivery(models.Model):
    """One event for one endpoint. `body` is the exact JSON sent and signed, so every
    attempt sends the same bytes and the same event id (receivers de-duplicate on it)."""

    PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
    STATES = [(PENDING, "Pending"), (DELIVERED, "Delivered"), (FAILED, "Gave up")]

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    sequence = models.BigIntegerField()
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=64)
    body = models.TextField()
    state = models.CharField(max_length=16, choices=STATES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-sequence", "-id"]
        indexes = [
            models.Index(fields=["endpoint", "state", "sequence"]),
            models.Index(fields=["endpoint", "-sequence"]),
            models.Index(fields=["state", "created_at"]),
        ]

    def __str__(self):
        return f"{self.event_type} {self.event_id} ({self.state})"
