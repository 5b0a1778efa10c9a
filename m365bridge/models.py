from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from directory.backoff import growing_wait, jittered
from directory.models import OrganizationScopedQuerySet


class Tenant(models.Model):
    """A Microsoft 365 (Entra ID) tenant connected to an organization.

    `delegated` tenants act as the Microsoft 365 admin who signed in (their refresh
    token is in the cache); `application` tenants use app-only tokens after an admin
    granted consent once. The MSAL token cache is kept only encrypted
    (`directory.encryption`) and never leaves the server."""

    DELEGATED, APPLICATION = "delegated", "application"
    MODES = [
        (DELEGATED, "Delegated (acts as the admin who signed in)"),
        (APPLICATION, "Application (app-only, after admin consent)"),
    ]
    CONNECTED, NEEDS_REAUTHORIZATION, DEAUTHORIZED = (
        "connected",
        "needs_reauthorization",
        "deauthorized",
    )
    STATUSES = [
        (CONNECTED, "Connected"),
        (NEEDS_REAUTHORIZATION, "Needs re-authorization"),
        (DEAUTHORIZED, "Deauthorized"),
    ]
    ACTIVE_STATUSES = (CONNECTED, NEEDS_REAUTHORIZATION)

    organization = models.ForeignKey(
        "directory.Organization", on_delete=models.CASCADE, related_name="m365_tenants"
    )
    microsoft_tenant_id = models.CharField(max_length=36, help_text="The Entra tenant id (a GUID).")
    display_name = models.CharField(max_length=256, blank=True)
    initial_domain = models.CharField(max_length=255, blank=True)
    mode = models.CharField(max_length=16, choices=MODES)
    status = models.CharField(max_length=24, choices=STATUSES, default=CONNECTED)

    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The Stratus admin who connected it.",
    )
    authorized_by_upn = models.CharField(
        max_length=255, blank=True, help_text="The Microsoft 365 account that authorized it."
    )
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

    # Reconcile (P5): how often Microsoft is read back, where the last delta round ended
    # (an opaque Graph URL, not a secret), and a lease so only one reconcile of the
    # tenant runs at a time; a dead worker's lease simply expires.
    reconcile_interval_minutes = models.PositiveIntegerField(
        default=10, help_text="Minutes between scheduled reconciles with Microsoft 365."
    )
    delta_link = models.TextField(blank=True, editable=False)
    # The same for `groups/delta`, read only while the tenant has bound groups (G1).
    group_delta_link = models.TextField(blank=True, editable=False)
    last_reconcile_at = models.DateTimeField(null=True, blank=True)
    reconcile_token = models.CharField(max_length=32, blank=True, editable=False)
    reconcile_until = models.DateTimeField(null=True, blank=True, editable=False)

    # Licences (P8), off unless an admin picks them: the licence (a subscribed SKU) and
    # the usage location given to the accounts Stratus creates. The part number is kept
    # only to name the licence in messages.
    licence_sku_id = models.CharField(max_length=36, blank=True)
    licence_sku_part_number = models.CharField(max_length=128, blank=True)
    default_usage_location = models.CharField(
        max_length=2,
        blank=True,
        help_text="ISO 3166 alpha-2 country code for users who have no usage location.",
    )

    # Stratus's client secret as Microsoft reports it (`secret_expiry.secret_expiry_read`,
    # once a day): the end date of the secret in use, read from the app registration's
    # `passwordCredentials` in this tenant, or why it could not be read (then the
    # operator's M365_CLIENT_SECRET_EXPIRES_AT applies).
    secret_expires_at = models.DateTimeField(null=True, blank=True)
    secret_checked_at = models.DateTimeField(null=True, blank=True)
    secret_unreadable = models.CharField(max_length=300, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            # Two owners of one tenant would fight over its users.
            models.UniqueConstraint(
                "microsoft_tenant_id",
                condition=~Q(status="deauthorized"),
                name="m365_tenant_connected_once",
            ),
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
            models.UniqueConstraint(
                Lower("name"), condition=Q(active=True), name="m365_domain_connected_once"
            ),
            models.UniqueConstraint("tenant", "name", name="m365_domain_unique_per_tenant"),
        ]
        ordering = ["-is_default", "name"]

    def __str__(self):
        return self.name


class BindRun(models.Model):
    """One bulk "bind to Microsoft 365" by an admin: how many users it bound, so the
    console can show its progress (done of total) while workers create the accounts."""

    organization = models.ForeignKey(
        "directory.Organization", on_delete=models.CASCADE, related_name="+"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="bind_runs")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"bind of {self.total} users to tenant {self.tenant_id}"


BACKOFF_CAP = 900  # seconds between attempts after repeated transient failures


def backoff_seconds(attempts: int, retry_after: float | None) -> float:
    """Microsoft's Retry-After when it gave one, else 2 s doubling up to 15 minutes."""
    if retry_after is not None:
        return jittered(max(retry_after, 1.0))
    return jittered(growing_wait(attempts, first=2, cap=BACKOFF_CAP))


class SyncedBinding(models.Model):
    """What user and group bindings share: durable intent (`needs_sync` set and
    `generation` bumped in the transaction of every change Microsoft must follow, cleared
    by a worker only if the generation did not move meanwhile), a worker's lease on the
    row, what Microsoft was last told, drift a reconcile found, and the last error."""

    organization = models.ForeignKey(
        "directory.Organization", on_delete=models.CASCADE, related_name="+"
    )
    microsoft_id = models.CharField(max_length=36, blank=True)

    needs_sync = models.BooleanField(default=True)
    generation = models.PositiveIntegerField(default=1)
    dirty_since = models.DateTimeField(null=True, blank=True, default=timezone.now)
    intent_actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # A worker's claim (lease) on the row, and when to try again after a failure.
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    known_properties = models.JSONField(default=dict, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    # What a reconcile found changed directly in Microsoft 365 and the next sync must
    # overwrite; the engine says "drift" in its events and empties it once applied.
    drift = models.JSONField(default=dict, blank=True)

    last_error_code = models.CharField(max_length=128, blank=True)
    last_error_message = models.TextField(blank=True)
    last_error_request_id = models.CharField(max_length=64, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        abstract = True

    ERROR = "error"

    def record_error(self, error) -> None:
        """Keep Microsoft's reason (a `graph.GraphError`) for the admin to read."""
        self.last_error_code = (error.code or (f"HTTP {error.status}" if error.status else ""))[
            :128
        ]
        self.last_error_message = error.message[:2000]
        self.last_error_request_id = (error.request_id or error.client_request_id)[:64]
        self.last_error_at = timezone.now()

    def retry_later(self, error) -> None:
        """A transient failure: keep the intent and come back after a growing wait, or
        after Microsoft's Retry-After."""
        self.attempts += 1
        wait = backoff_seconds(self.attempts, getattr(error, "retry_after", None))
        self.next_attempt_at = timezone.now() + timedelta(seconds=wait)
        self.record_error(error)

    def fail(self, error) -> None:
        """Microsoft refused: shown to the admin, not retried until something changes."""
        self.attempts += 1
        self.state = self.ERROR
        self.next_attempt_at = None
        self.record_error(error)

    def succeed(self) -> None:
        self.attempts, self.next_attempt_at = 0, None
        self.last_error_code = self.last_error_message = self.last_error_request_id = ""
        self.last_error_at = None

    def drift_with(self, found: dict) -> dict:
        """This row's drift merged with what a newer reconcile `found`: flags stay set
        while either holds them, and drifted property names add up."""
        old = self.drift or {}
        flags = (set(old) | set(found)) - {"properties"}
        merged = {k: found.get(k) or old.get(k) for k in flags if found.get(k) or old.get(k)}
        properties = sorted(set(old.get("properties", [])) | set(found.get("properties", [])))
        if properties:
            merged["properties"] = properties
        return merged

    def error_details(self) -> dict:
        return {
            "code": self.last_error_code,
            "message": self.last_error_message,
            "request_id": self.last_error_request_id,
        }

    def release_claim(self, *, applied_generation: int | None) -> None:
        """Give up the worker's lease. Compare-and-set: the intent is done only if
        `applied_generation` is still the latest; a newer change stays dirty."""
        self.claim_token, self.claimed_until = "", None
        if applied_generation is not None and self.generation == applied_generation:
            self.needs_sync, self.dirty_since = False, None

    @property
    def last_error(self) -> str:
        """Microsoft's reason, in the words an admin reads (with its code)."""
        if not self.last_error_message:
            return ""
        code = f" ({self.last_error_code})" if self.last_error_code else ""
        return f"{self.last_error_message}{code}"


class UserBinding(SyncedBinding):
    """A directory user provisioned into one tenant (C3: at most one tenant per user).

    The row is the durable intent of provisioning: `needs_sync` is set (and `generation`
    bumped) in the same transaction as every change Microsoft must follow, and cleared
    by a worker only when what it applied is still the latest generation. What Microsoft
    was last told is kept (`known_properties`, `known_enabled`, the pushed password
    version), so workers send only the difference and applying twice changes nothing.
    `bound=False` means "block the account, then forget the binding" (unbind, delete);
    `user` is emptied when the Stratus user is deleted, and `user_label` keeps who it was.
    Deauthorizing a tenant deletes its bindings without touching Microsoft."""

    PENDING, PROVISIONED, BLOCKED, ERROR, WAITING = (
        "pending",
        "provisioned",
        "blocked",
        "error",
        "waiting",
    )
    HELD = "held"  # its block waits for an owner behind the deprovision brake (sync.brake)
    STATES = [
        (PENDING, "Pending"),
        (PROVISIONED, "Provisioned"),
        (BLOCKED, "Blocked"),
        (ERROR, "Error"),
        (WAITING, "Waiting"),
        (HELD, "Held"),
    ]

    # No index of its own: every index of the row but the keys begins with the tenant.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="user_bindings", db_index=False
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="m365_binding",
    )
    user_ref = models.BigIntegerField(
        null=True, blank=True, help_text="The Stratus user's id, kept after deletion."
    )
    user_label = models.CharField(max_length=254, blank=True)
    state = models.CharField(max_length=16, choices=STATES, default=PENDING)
    bound = models.BooleanField(default=True)
    bind_run = models.ForeignKey(
        BindRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="bindings"
    )

    # What Microsoft was last told besides `known_properties` (drift, in the base, may
    # hold {"properties": [...], "enabled": true, "password": true}).
    known_enabled = models.BooleanField(null=True, blank=True)
    password_encrypted = models.TextField(blank=True, editable=False)
    password_version = models.PositiveIntegerField(default=0)
    password_pushed_version = models.PositiveIntegerField(default=0)
    password_pushed_at = models.DateTimeField(null=True, blank=True)
    # Creates sent for this binding since its account was last recorded: more than one
    # means an earlier create may have reached Microsoft with its reply lost.
    creates_sent = models.PositiveSmallIntegerField(default=0)
    # Lifecycle (P7, P8): since when the address has been held by a deleted account in
    # Microsoft 365 (Stratus waits up to 30 days), the licence still to assign (a SKU id,
    # kept until Microsoft accepts it), and what happened to an account deleted in
    # Microsoft 365 (restored, or created again), for the admin.
    waiting_since = models.DateTimeField(null=True, blank=True)
    licence_pending = models.CharField(max_length=36, blank=True)
    lifecycle_note = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "tenant",
                "microsoft_id",
                condition=~Q(microsoft_id=""),
                name="m365_user_binding_remote_unique",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "next_attempt_at"],
                condition=Q(needs_sync=True),
                name="m365_binding_dirty",
            ),
            # The engine's claims (`sync.engine.claim`): due rows in primary-key order,
            # found without reading every due row of a 5,000-user bind each time, and
            # the changes to accounts that exist (where every security-relevant one is).
            models.Index(
                fields=["tenant", "id"], condition=Q(needs_sync=True), name="m365_binding_due"
            ),
            models.Index(
                fields=["tenant", "id"],
                condition=Q(needs_sync=True) & ~Q(microsoft_id=""),
                name="m365_binding_due_existing",
            ),
            models.Index(fields=["tenant", "state"], name="m365_binding_state"),
        ]

    def __str__(self):
        return f"{self.user_label or self.user_id} -> tenant {self.tenant_id}"

    def save(self, *args, **kwargs):
        self.prepare_save()
        super().save(*args, **kwargs)

    def prepare_save(self) -> None:
        """What every save keeps (also when the sync engine saves a chunk of rows at
        once): who the user was, for after the user is deleted."""
        if self.user_id is not None and not self.user_ref:
            self.user_ref = self.user_id
        if self.user_id is not None and not self.user_label:
            self.user_label = self.user.email

    def event_target(self):
        return ("user", self.user_ref or self.user_id or "", self.user_label)

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    @property
    def password_pending(self) -> bool:
        """Bound, but Stratus does not hold the user's password yet (it was set before
        Stratus kept passwords, or outside the retention window): the account has a
        random one until the user's next portal sign-in (or activation) pushes theirs."""
        return self.bound and self.user_id is not None and not self.password_encrypted


class UserPhotoSync(SyncedBinding):
    """A bound user's profile photo as Microsoft 365 must hold it (I5): its own intent
    row, synced by the engine's `photos` kind one `PUT photo/$value` at a time (a photo
    is binary and up to 4 MB, so not in a `$batch`). `sha256` is the photo Microsoft
    holds as far as Stratus knows ("" for none): an imported photo is recorded here
    before it is stored, so it is never sent back."""

    PENDING, PROVISIONED, ERROR = "pending", "provisioned", "error"
    STATES = [(PENDING, "Pending"), (PROVISIONED, "Provisioned"), (ERROR, "Error")]

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="photo_syncs")
    binding = models.OneToOneField(UserBinding, on_delete=models.CASCADE, related_name="photo")
    state = models.CharField(max_length=16, choices=STATES, default=PENDING)
    sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant", "next_attempt_at"],
                condition=Q(needs_sync=True),
                name="m365_photo_dirty",
            ),
        ]

    def __str__(self):
        return f"photo of {self.binding_id}"

    def event_target(self):
        return self.binding.event_target()


class RetainedPassword(models.Model):
    """A user's Stratus password, encrypted (K1), while no binding holds it: set before
    the user was bound, or kept from a binding that was unbound, so that a bind or a
    rebind within `M365_PASSWORD_RETAIN_HOURS` (default 72) gives Microsoft the real
    password. Kept only for users a connected tenant could take (their email domain is
    one of its verified domains); taken by the binding, or deleted once expired."""

    organization = models.ForeignKey(
        "directory.Organization", on_delete=models.CASCADE, related_name="+"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="m365_retained_password"
    )
    password_encrypted = models.TextField(editable=False)
    retained_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="m365_retained_expiry")]

    def __str__(self):
        return f"retained password of user {self.user_id} until {self.expires_at:%Y-%m-%d %H:%M}"


class GroupBinding(SyncedBinding):
    """A directory group provisioned into one tenant as a security group (G1).

    Durable intent, as for `UserBinding`: `needs_sync` is set (and `generation` bumped)
    whenever the group's name, description or members change, or a member's account is
    created or removed in the tenant; a worker clears it only if the generation did not
    move meanwhile. `known_properties` and `known_members` (Microsoft ids) are what
    Microsoft was last told, so only the difference is sent. Unbinding deletes the row
    and leaves the Microsoft group as it is (deleting a security group is permanent)."""

    PENDING, PROVISIONED, ERROR = "pending", "provisioned", "error"
    STATES = [(PENDING, "Pending"), (PROVISIONED, "Provisioned"), (ERROR, "Error")]

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="group_bindings")
    group = models.ForeignKey(
        "directory.Group", on_delete=models.CASCADE, related_name="m365_bindings"
    )
    state = models.CharField(max_length=16, choices=STATES, default=PENDING)

    known_members = models.JSONField(default=list, blank=True)  # drift: {"members": true}

    class Meta:
        constraints = [
            models.UniqueConstraint("tenant", "group", name="m365_group_binding_unique"),
            models.UniqueConstraint(
                "tenant",
                "microsoft_id",
                condition=~Q(microsoft_id=""),
                name="m365_group_binding_remote_unique",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "next_attempt_at"],
                condition=Q(needs_sync=True),
                name="m365_group_binding_dirty",
            ),
        ]

    def __str__(self):
        return f"group {self.group_id} -> tenant {self.tenant_id}"

    def event_target(self):
        return ("group", self.group_id, self.group.name)


class SyncRun(models.Model):
    """One reconcile of a tenant with Microsoft 365: what was read, how much drift was
    found and sent for correction, what could not be checked, and how many Graph
    requests it took. Shown on the tenant page as its sync history."""

    DELTA, FULL = "delta", "full"
    KINDS = [(DELTA, "Changes since the last run"), (FULL, "Every user")]
    RUNNING, SUCCEEDED, FAILED, SKIPPED = "running", "succeeded", "failed", "skipped"
    OUTCOMES = [
        (RUNNING, "Running"),
        (SUCCEEDED, "Succeeded"),
        (FAILED, "Failed"),
        (SKIPPED, "Skipped"),
    ]

    organization = models.ForeignKey(
        "directory.Organization", on_delete=models.CASCADE, related_name="+"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sync_runs")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text='Who pressed "Sync now"; empty for scheduled runs.',
    )
    kind = models.CharField(max_length=8, choices=KINDS, default=DELTA)
    outcome = models.CharField(max_length=12, choices=OUTCOMES, default=RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    read = models.PositiveIntegerField(default=0, help_text="Users Microsoft reported.")
    corrected = models.PositiveIntegerField(default=0, help_text="Bindings sent for correction.")
    failed = models.PositiveIntegerField(default=0, help_text="Bindings that could not be checked.")
    requests = models.PositiveIntegerField(default=0, help_text="Graph requests the run made.")
    note = models.TextField(blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["tenant", "-started_at"], name="m365_sync_run_recent")]

    def __str__(self):
        return f"{self.kind} reconcile of tenant {self.tenant_id} ({self.outcome})"

    def add_note(self, text: str) -> None:
        self.note = f"{self.note} {text}".strip()

    @property
    def seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


class DeprovisionBrake(models.Model):
    """A tenant's mass-deprovision brake (`sync.brake`): at most the larger of
    `max_accounts` and `max_percent` % of its bound accounts are blocked in any window of
    `M365_BRAKE_WINDOW_MINUTES` (10); the block that would cross it, and every block
    after it, is held (`HeldBlock`) until an owner releases or discards them.
    `engaged_at` is set from that crossing until then."""

    MAX_ACCOUNTS_RANGE = (1, 100_000)
    MAX_PERCENT_RANGE = (1, 100)

    organization = models.ForeignKey(
        "directory.Organization", on_delete=models.CASCADE, related_name="+"
    )
    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="brake")
    max_accounts = models.PositiveIntegerField(
        default=50, help_text="Blocks allowed in the window, at least."
    )
    max_percent = models.PositiveSmallIntegerField(
        default=10, help_text="Blocks allowed in the window, as a percentage of bound accounts."
    )
    engaged_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrganizationScopedQuerySet.as_manager()

    def __str__(self):
        return f"deprovision brake of tenant {self.tenant_id}"


class BlockSent(models.Model):
    """One block let through the brake, kept for the length of its window."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["tenant", "sent_at"], name="m365_block_sent_recent")]

    def __str__(self):
        return f"block sent in tenant {self.tenant_id} at {self.sent_at:%H:%M:%S}"


class HeldBlock(models.Model):
    """A user binding whose block the brake holds: the binding keeps its intent and the
    sync skips it until an owner releases (`released_at` set: sent once, then this row
    goes) or discards it. Who and what caused it is kept for the tenant page."""

    organization = models.ForeignKey(
        "directory.Organization", on_delete=models.CASCADE, related_name="+"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="held_blocks")
    binding = models.OneToOneField(UserBinding, on_delete=models.CASCADE, related_name="held_block")
    user_label = models.CharField(max_length=254, blank=True)
    reason = models.CharField(max_length=32, help_text="What asked for the block.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    held_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ["held_at", "pk"]

    def __str__(self):
        return f"held block of {self.user_label or self.binding_id}"


class TenantSyncAlert(models.Model):
    """A tenant whose sync has stopped reaching Microsoft 365 (`health`): why, since
    when, and when its owners were told. Deleted when it recovers (owners are told
    again); the tenant page shows a banner while it exists."""

    FAILING, SECRET_EXPIRING, ERROR_RATE = "failing", "secret_expiring", "error_rate"
    KINDS = [
        (FAILING, "Sync failing"),
        (SECRET_EXPIRING, "Client secret expiring"),
        (ERROR_RATE, "Too many changes refused"),
    ]

    organization = models.ForeignKey(
        "directory.Organization", on_delete=models.CASCADE, related_name="+"
    )
    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="sync_alert")
    kind = models.CharField(max_length=24, choices=KINDS)
    message = models.CharField(max_length=500)
    since = models.DateTimeField(default=timezone.now)

    objects = OrganizationScopedQuerySet.as_manager()

    def __str__(self):
        return f"{self.kind} alert of tenant {self.tenant_id}"


class MirroredUser(models.Model):
    """A Microsoft 365 user of a tenant as the reconcile last read it (issue 12, I1).

    The reconcile's own `users/delta` read writes these page by page; the Import page
    and API list them. `status` says what importing it would do: `not_importable`
    carries the reason (`reason`), and `imported` / `conflict` are refreshed on every
    read and by imports and links. `properties` keeps the synced attributes exactly as
    Microsoft holds them, so an import maps them back through the one attribute map."""

    NEW, IMPORTED, CONFLICT, NOT_IMPORTABLE = "new", "imported", "conflict", "not_importable"
    STATUSES = [
        (NEW, "New"),
        (IMPORTED, "Imported"),
        (CONFLICT, "Conflict"),
        (NOT_IMPORTABLE, "Not importable"),
    ]

    organization = models.ForeignKey(
        "directory.Organization", on_delete=models.CASCADE, related_name="+"
    )
    # Every index of the mirror begins with the tenant: it needs none of its own, and
    # each index is paid for by every page the reconcile writes (issue 12).
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="mirrored_users", db_index=False
    )
    microsoft_id = models.CharField(max_length=36)
    user_principal_name = models.CharField(max_length=1024, blank=True)
    mail = models.CharField(max_length=1024, blank=True)
    # The address Stratus would use as its email (lower-case), "" when none is usable.
    email = models.CharField(max_length=254, blank=True)
    domain = models.CharField(max_length=255, blank=True)
    # Listing columns, cut to a length that sorts and indexes (the full values are in
    # `properties`).
    display_name = models.CharField(max_length=256, blank=True)
    department = models.CharField(max_length=256, blank=True)
    job_title = models.CharField(max_length=256, blank=True)
    account_enabled = models.BooleanField(default=True)
    licensed = models.BooleanField(default=False)
    user_type = models.CharField(max_length=16, blank=True)
    on_premises_sync = models.BooleanField(default=False)
    created_in_microsoft = models.DateTimeField(null=True, blank=True)
    proxy_addresses = models.JSONField(default=list, blank=True)
    addresses = models.JSONField(default=list, blank=True)  # lower-case, for conflicts
    properties = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=STATUSES, default=NEW)
    reason = models.CharField(max_length=200, blank=True)
    read_at = models.DateTimeField(default=timezone.now)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint("tenant", "microsoft_id", name="m365_mirrored_user_unique"),
        ]
        indexes = [
            models.Index(fields=["tenant", "display_name"], name="m365_mirror_name"),
            models.Index(fields=["tenant", "email"], name="m365_mirror_email"),
            models.Index(fields=["tenant", "user_principal_name"], name="m365_mirror_upn"),
            models.Index(fields=["tenant", "created_in_microsoft"], name="m365_mirror_created"),
            models.Index(fields=["tenant", "status", "display_name"], name="m365_mirror_status"),
            models.Index(fields=["tenant", "domain", "display_name"], name="m365_mirror_domain"),
            models.Index(
                fields=["tenant", "department", "display_name"], name="m365_mirror_department"
            ),
        ]

    def __str__(self):
        return self.user_principal_name or self.microsoft_id


class MirroredGroup(models.Model):
    """A Microsoft 365 group of a tenant as the reconcile's `groups/delta` read last
    listed it (issue 12, I3). Only security groups (`securityEnabled`, not mail-enabled,
    assigned membership) are importable; the others say why in `reason`. `members` are
    the Microsoft ids of its user members, `nested_groups` those of its group members."""

    NEW, IMPORTED, CONFLICT, NOT_IMPORTABLE = "new", "imported", "conflict", "not_importable"
    STATUSES = MirroredUser.STATUSES

    organization = models.ForeignKey(
        "directory.Organization", on_delete=models.CASCADE, related_name="+"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="mirrored_groups")
    microsoft_id = models.CharField(max_length=36)
    display_name = models.CharField(max_length=256, blank=True)
    description = models.TextField(blank=True)
    mail_enabled = models.BooleanField(default=False)
    security_enabled = models.BooleanField(default=False)
    group_types = models.JSONField(default=list, blank=True)
    on_premises_sync = models.BooleanField(default=False)
    members = models.JSONField(default=list, blank=True)
    nested_groups = models.JSONField(default=list, blank=True)
    member_count = models.PositiveIntegerField(default=0)
    created_in_microsoft = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=STATUSES, default=NEW)
    reason = models.CharField(max_length=200, blank=True)
    read_at = models.DateTimeField(default=timezone.now)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint("tenant", "microsoft_id", name="m365_mirrored_group_unique"),
        ]
        indexes = [
            models.Index(fields=["tenant", "display_name"], name="m365_mirror_group_name"),
            models.Index(
                fields=["tenant", "status", "display_name"], name="m365_mirror_group_status"
            ),
        ]

    def __str__(self):
        return self.display_name or self.microsoft_id


class TenantMirror(models.Model):
    """How far the tenant's mirror is: which `$select` filled it (a delta link from a
    narrower select never brings the new properties, so a changed select reads every
    user again), and the progress of the read under way."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="mirror")
    select = models.TextField(blank=True)
    filled_at = models.DateTimeField(null=True, blank=True)
    reading = models.BooleanField(default=False)
    read = models.PositiveIntegerField(default=0)
    # The Import page's filter choices, refreshed after each read (a DISTINCT over
    # 50,000 rows on every page view would cost more than the page itself).
    domains = models.JSONField(default=list, blank=True)
    departments = models.JSONField(default=list, blank=True)
    # The same for the tenant's groups (`groups/delta`, I3): its own `$select`.
    group_select = models.TextField(blank=True)
    groups_filled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"mirror of tenant {self.tenant_id}"


class ImportJob(models.Model):
    """One import of Microsoft 365 users into Stratus (I2, I4), run by a worker. Its
    items are the durable list of what to do: a restarted worker carries on with the
    items still pending, and an item done is never done twice."""

    QUEUED, RUNNING, DONE = "queued", "running", "done"
    STATUSES = [(QUEUED, "Queued"), (RUNNING, "Running"), (DONE, "Done")]

    organization = models.ForeignKey(
        "directory.Organization", on_delete=models.CASCADE, related_name="+"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="import_jobs")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=8, choices=STATUSES, default=QUEUED)
    send_activation = models.BooleanField(default=False)
    total = models.PositiveIntegerField(default=0)
    groups = models.PositiveIntegerField(default=0)  # of `total`, groups (after the users)
    done = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # A lease like the reconcile's: one worker at a time; a dead worker's expires.
    claim_token = models.CharField(max_length=32, blank=True, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    # The follow-up step once the users are in (`services.photo_imports`): each imported
    # user's profile photo, read from Microsoft 365 ("photos x of y"), under the same lease.
    PHOTOS_RUNNING = "running"
    PHOTOS_STATUSES = [("", "Not started"), (PHOTOS_RUNNING, "Running"), (DONE, "Done")]
    photos_status = models.CharField(max_length=8, choices=PHOTOS_STATUSES, blank=True)
    photos_total = models.PositiveIntegerField(default=0)
    photos_done = models.PositiveIntegerField(default=0)
    photos_found = models.PositiveIntegerField(default=0)
    photos_failed = models.PositiveIntegerField(default=0)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status"], condition=~Q(status="done"), name="m365_import_open")
        ]

    def __str__(self):
        return f"import {self.pk} into tenant {self.tenant_id}"


class ImportItem(models.Model):
    """One Microsoft 365 user of an import job and what became of it."""

    PENDING, IMPORTED, SKIPPED, FAILED = "pending", "imported", "skipped", "failed"
    OUTCOMES = [
        (PENDING, "Pending"),
        (IMPORTED, "Imported"),
        (SKIPPED, "Skipped"),
        (FAILED, "Failed"),
    ]

    USER, GROUP = "user", "group"
    KINDS = [(USER, "User"), (GROUP, "Group")]

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=8, choices=KINDS, default=USER)
    microsoft_id = models.CharField(max_length=36)
    label = models.CharField(max_length=1024, blank=True)
    outcome = models.CharField(max_length=8, choices=OUTCOMES, default=PENDING)
    reason = models.CharField(max_length=500, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    group = models.ForeignKey(
        "directory.Group", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # A group's members that did not come with it: [{"microsoft_id", "label", "reason"}].
    members_left_out = models.JSONField(default=list, blank=True)
    # Its profile photo, for imported users: "" still to read, then stored / none / failed.
    PHOTO_STORED, PHOTO_NONE, PHOTO_FAILED = "stored", "none", "failed"
    photo = models.CharField(max_length=8, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint("job", "microsoft_id", name="m365_import_item_unique"),
        ]
        indexes = [
            models.Index(
                fields=["job", "id"], condition=Q(outcome="pending"), name="m365_import_pending"
            )
        ]

    def __str__(self):
        return f"{self.label or self.microsoft_id}: {self.outcome}"


class SendingPause(models.Model):
    """Sending to Microsoft 365 is paused for every tenant, for `reason` (the write
    budget's Redis unreachable): recorded by the workers that find it so, deleted when
    one finds it back. The console shows a banner while a worker saw it recently."""

    BUDGET_REDIS = "budget_redis"
    REASONS = [(BUDGET_REDIS, "The write budget's Redis is unreachable")]

    reason = models.CharField(max_length=20, choices=REASONS, unique=True)
    since = models.DateTimeField()
    seen_at = models.DateTimeField()
    detail = models.CharField(max_length=200, blank=True)  # the error's type, never a URL

    def __str__(self):
        return f"sending paused since {self.since:%Y-%m-%d %H:%M}: {self.reason}"
