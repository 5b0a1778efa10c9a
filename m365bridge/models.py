from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from directory.models import OrganizationScopedQuerySet


class Tenant(models.Model):
    """A Microsoft 365 (Entra ID) tenant connected to an organization.

    `delegated` tenants act as the Microsoft 365 admin who signed in (their refresh
    token is in the cache); `application` tenants use app-only tokens after an admin
    granted consent once. The MSAL token cache is kept only encrypted
    (`directory.encryption`) and never leaves the server."""

    DELEGATED, APPLICATION = "delegated", "application"
    MODES = [(DELEGATED, "Delegated (acts as the admin who signed in)"),
             (APPLICATION, "Application (app-only, after admin consent)")]
    CONNECTED, NEEDS_REAUTHORIZATION, DEAUTHORIZED = (
        "connected", "needs_reauthorization", "deauthorized")
    STATUSES = [(CONNECTED, "Connected"), (NEEDS_REAUTHORIZATION, "Needs re-authorization"),
                (DEAUTHORIZED, "Deauthorized")]
    ACTIVE_STATUSES = (CONNECTED, NEEDS_REAUTHORIZATION)

    organization = models.ForeignKey(
        "directory.Organization", on_delete=models.CASCADE, related_name="m365_tenants")
    microsoft_tenant_id = models.CharField(max_length=36, help_text="The Entra tenant id (a GUID).")
    display_name = models.CharField(max_length=256, blank=True)
    initial_domain = models.CharField(max_length=255, blank=True)
    mode = models.CharField(max_length=16, choices=MODES)
    status = models.CharField(max_length=24, choices=STATUSES, default=CONNECTED)

    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", help_text="The Stratus admin who connected it.")
    authorized_by_upn = models.CharField(
        max_length=255, blank=True, help_text="The Microsoft 365 account that authorized it.")
    authorized_by_oid = models.CharField(max_length=36, blank=True)

    # What the last token carried: delegated scopes (`scp`), application roles
    # (`roles`) and directory role template ids (`wids`).
    granted_permissions = models.JSONField(default=list, blank=True)
    directory_roles = models.JSONField(default=list, blank=True)
    permissions_checked_at = models.DateTimeField(null=True, blank=True)

    token_cache_encrypted = models.TextField(blank=True, editable=False)

    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    domains_refreshed_at = models.DateTimeField(null=True, blank=True)
    deauthorized_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            # Two owners of one tenant would fight over its users.
            models.UniqueConstraint(
                "microsoft_tenant_id", condition=~Q(status="deauthorized"),
                name="m365_tenant_connected_once"),
        ]
        indexes = [models.Index(fields=["organization", "status"])]
        ordering = ["display_name", "pk"]

    def __str__(self):
        return self.display_name or self.microsoft_tenant_id

    def event_target(self):
        return ("m365_tenant", self.pk, str(self))

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def can_sync(self) -> bool:
        """Sync runs only while tokens work; pending work waits otherwise."""
        return self.status == self.CONNECTED

    @property
    def domain_names(self) -> list[str]:
        return [domain.name for domain in self.domains.all()]


class TenantDomain(models.Model):
    """A verified domain of a connected tenant. `active` mirrors the tenant's status so
    that the database itself refuses one domain on two live tenants."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="domains")
    name = models.CharField(max_length=255)  # lower-case
    is_initial = models.BooleanField(default=False)
    is_default = models.BooleanField(default=False)
    authentication_type = models.CharField(max_length=16, default="Managed")
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("name"), condition=Q(active=True),
                                    name="m365_domain_connected_once"),
            models.UniqueConstraint("tenant", "name", name="m365_domain_unique_per_tenant"),
        ]
        ordering = ["-is_default", "name"]

    def __str__(self):
        return self.name


class UserBinding(models.Model):
    """A directory user provisioned into one tenant (C3: at most one tenant per user).

    Provisioning fills in the Microsoft object id and the sync state; deauthorizing a
    tenant deletes its bindings ("unselects" the users) without touching Microsoft."""

    organization = models.ForeignKey("directory.Organization", on_delete=models.CASCADE,
                                     related_name="+")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="user_bindings")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="m365_binding")
    microsoft_id = models.CharField(max_length=36, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint("tenant", "microsoft_id", condition=~Q(microsoft_id=""),
                                    name="m365_user_binding_remote_unique"),
        ]

    def __str__(self):
        return f"{self.user_id} -> tenant {self.tenant_id}"


class GroupBinding(models.Model):
    """A directory group provisioned into one tenant as a security group."""

    organization = models.ForeignKey("directory.Organization", on_delete=models.CASCADE,
                                     related_name="+")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="group_bindings")
    group = models.ForeignKey("directory.Group", on_delete=models.CASCADE,
                              related_name="m365_bindings")
    microsoft_id = models.CharField(max_length=36, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint("tenant", "group", name="m365_group_binding_unique"),
            models.UniqueConstraint("tenant", "microsoft_id", condition=~Q(microsoft_id=""),
                                    name="m365_group_binding_remote_unique"),
        ]

    def __str__(self):
        return f"group {self.group_id} -> tenant {self.tenant_id}"
