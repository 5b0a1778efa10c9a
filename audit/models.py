from django.conf import settings
from django.db import models


class AppendOnlyError(RuntimeError):
    """Raised on any attempt to change or remove a recorded event."""


class EventQuerySet(models.QuerySet):
    def for_organization(self, organization):
        return self.filter(organization=organization)

    def update(self, **kwargs):
        raise AppendOnlyError("events are append-only")

    def delete(self):
        raise AppendOnlyError("events are append-only")


class Event(models.Model):
    """One thing that happened in an organization: who did what to which object, and
    how it ended. Written once, never changed; details never hold a secret."""

    SUCCESS = "success"
    FAILURE = "failure"
    OUTCOMES = [(SUCCESS, "Success"), (FAILURE, "Failure")]

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    organization = models.ForeignKey(
        "directory.Organization", on_delete=models.PROTECT, related_name="events", null=True
    )
    type = models.CharField(max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # A copy of who acted, so the record survives the actor's deletion ("system" for jobs).
    actor_label = models.CharField(max_length=254)
    # The API or SCIM key a change was made through (audit.context), besides its creator
    # (`actor`): its id, and its name and public prefix, never its secret.
    api_key_id = models.PositiveBigIntegerField(null=True, blank=True)
    api_key_label = models.CharField(max_length=160, blank=True)
    tenant_ref = models.CharField(max_length=64, blank=True)
    tenant_label = models.CharField(max_length=255, blank=True)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=16, choices=OUTCOMES, default=SUCCESS)
    details = models.JSONField(default=dict, blank=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at", "-id"]),
            models.Index(fields=["organization", "type", "-created_at"]),
            models.Index(fields=["organization", "target_type", "target_id"]),
            # The tenant filter, and the tenant list of that filter (audit.selectors).
            models.Index(fields=["organization", "tenant_ref", "-created_at", "-id"]),
            # The user filter by email (which also finds a deleted user's events) and the
            # actor filter: without them a rare email scans the organization's events.
            models.Index(fields=["organization", "target_type", "target_label"]),
            models.Index(fields=["organization", "actor_label", "-created_at", "-id"]),
        ]

    def __str__(self):
        return f"{self.type} {self.target_label} ({self.outcome})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("events are append-only")
