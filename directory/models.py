import hashlib

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django_otp.models import Device

from .addresses import email_canonical


class OrganizationScopedQuerySet(models.QuerySet):
    def for_organization(self, organization):
        return self.filter(organization=organization)


class Organization(models.Model):
    """A customer of Stratus, with its password policy. Everything else belongs to one."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=63, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # Password policy; directory.passwords applies it to every path that sets a password.
    password_min_length = models.PositiveSmallIntegerField(default=12)
    password_require_lowercase = models.BooleanField(default=True)
    password_require_uppercase = models.BooleanField(default=True)
    password_require_digit = models.BooleanField(default=True)
    password_require_symbol = models.BooleanField(default=False)
    password_max_age_days = models.PositiveIntegerField(
        null=True, blank=True, default=None, help_text="Empty means passwords never expire."
    )
    password_history = models.PositiveSmallIntegerField(
        default=5, help_text="How many previous passwords may not be reused."
    )
    # SCIM provisioning: bind a user created through SCIM to the connected tenant whose
    # verified domain is the user's email domain (DESIGN C3), so an HR system's new hire
    # gets a Microsoft 365 account with no console step.
    scim_bind_new_users = models.BooleanField(
        default=False,
        help_text="Bind users created through SCIM to the Microsoft 365 tenant of their domain.",
    )

    # Multi-factor policy (directory.mfa). Admins of a new organization need a second
    # factor from the start; organizations that existed before MFA keep it off until an
    # owner turns it on (the migration), so nobody was locked out by an upgrade.
    mfa_required_for_admins = models.BooleanField(default=True)
    mfa_required_for_everyone = models.BooleanField(default=False)

    def __str__(self):
        return self.name

    def event_target(self):
        return ("organization", self.pk, self.name)


class UserManager(BaseUserManager.from_queryset(OrganizationScopedQuerySet)):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        return self.get(email__iexact=email_canonical(username))

    def create_superuser(self, email, password=None, **extra):
        """For `manage.py createsuperuser`: a service operator with no organization."""
        user = self.model(
            email=email_canonical(email),
            is_staff=True,
            is_superuser=True,
            status=User.ACTIVE,
            **extra,
        )
        user.set_password(password)
        user.save(using=self._db)
        return user


class User(AbstractBaseUser, PermissionsMixin):
    """A person in an organization's directory; their email is their login everywhere.

    `status` is the account lifecycle; `state` is the postal state, as Graph names it."""

    MEMBER, ADMIN, OWNER = "member", "admin", "owner"
    # Console roles with fewer rights (directory.roles): helpdesk helps people sign in,
    # read-only sees everything and changes nothing.
    HELPDESK, READ_ONLY = "helpdesk", "read_only"
    ROLES = [
        (MEMBER, "Member"),
        (READ_ONLY, "Read-only"),
        (HELPDESK, "Helpdesk"),
        (ADMIN, "Admin"),
        (OWNER, "Owner"),
    ]
    STAGED, ACTIVE, SUSPENDED = "staged", "active", "suspended"
    STATUSES = [(STAGED, "Staged"), (ACTIVE, "Active"), (SUSPENDED, "Suspended")]

    email = models.EmailField(max_length=254, unique=True)  # stored lower-case
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="users", null=True, blank=True
    )
    role = models.CharField(max_length=16, choices=ROLES, default=MEMBER)
    status = models.CharField(max_length=16, choices=STATUSES, default=STAGED)
    is_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    password_changed_at = models.DateTimeField(null=True, blank=True)
    # Set by an admin's temporary password; the portal then allows only a password change.
    must_change_password = models.BooleanField(default=False)
    # When the scheduled job found the password expired and told bridges to block sign-in;
    # cleared by the next password set.
    password_expired_at = models.DateTimeField(null=True, blank=True)
    # When the person's authenticator app was confirmed (directory.mfa), cleared when an
    # owner resets it: every console and portal page reads it, so it saves a query there.
    mfa_enrolled_at = models.DateTimeField(null=True, blank=True)

    # Profile attributes synced to Microsoft 365 (see m365bridge's attribute map).
    first_name = models.CharField(max_length=64, blank=True)
    last_name = models.CharField(max_length=64, blank=True)
    display_name = models.CharField(max_length=256, blank=True)
    job_title = models.CharField(max_length=128, blank=True)
    department = models.CharField(max_length=64, blank=True)
    employee_id = models.CharField(max_length=16, blank=True)
    company_name = models.CharField(max_length=64, blank=True)
    office_location = models.CharField(max_length=128, blank=True)
    mobile_phone = models.CharField(max_length=64, blank=True)
    business_phones = models.JSONField(default=list, blank=True)
    street_address = models.CharField(max_length=1024, blank=True)
    city = models.CharField(max_length=128, blank=True)
    state = models.CharField(max_length=128, blank=True)
    postal_code = models.CharField(max_length=40, blank=True)
    country = models.CharField(max_length=128, blank=True)
    usage_location = models.CharField(max_length=2, blank=True)
    # Profile photo (I5): the checked original, as pushed to Microsoft 365, stored through
    # Django's storage API; its display sizes sit beside it (`directory.photos`).
    photo = models.FileField(max_length=255, blank=True)
    photo_sha256 = models.CharField(max_length=64, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ci"),
        ]
        indexes = [
            models.Index(fields=["organization", "email"]),
            models.Index(fields=["organization", "status", "email"]),
            models.Index(fields=["organization", "role", "email"]),
            models.Index(fields=["organization", "display_name"]),
        ]
        ordering = ["email"]

    def __str__(self):
        return self.email

    @property
    def is_active(self):
        return self.status == self.ACTIVE

    @property
    def is_org_admin(self):
        return self.organization_id is not None and self.role in (self.ADMIN, self.OWNER)

    @property
    def has_console_access(self):
        """Admins and owners, and the narrower helpdesk and read-only roles."""
        return self.organization_id is not None and self.role in (
            self.ADMIN,
            self.OWNER,
            self.HELPDESK,
            self.READ_ONLY,
        )

    @property
    def name(self):
        return self.display_name or f"{self.first_name} {self.last_name}".strip() or self.email

    @property
    def initials(self) -> str:
        """What the avatar shows when there is no photo: "Ada Lovelace" -> "AL"."""
        words = [w for w in self.name.replace("@", " ").replace(".", " ").split() if w[:1]]
        return "".join(w[0] for w in words[:2]).upper() or "?"

    def event_target(self):
        return ("user", self.pk, self.email)


class PasswordHistoryEntry(models.Model):
    """A previous password hash, so the policy can refuse reuse."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_history")
    password_hash = models.CharField(max_length=256)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"password of {self.user_id} set before {self.created_at:%Y-%m-%d}"


class Group(models.Model):
    """A security group of an organization; members are users of the same organization."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=256)
    description = models.CharField(max_length=1024, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(User, through="Membership", related_name="security_groups")

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint("organization", Lower("name"), name="group_name_unique_ci"),
        ]
        ordering = ["name"]

    def __str__(self):
        return self.name

    def event_target(self):
        return ("group", self.pk, self.name)


class Membership(models.Model):
    """A user's membership of a group, with when it began."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE)
    user = models.ForeignKey(User, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint("group", "user", name="membership_unique")]

    def __str__(self):
        return f"{self.user_id} in {self.group_id}"


class ApiKey(models.Model):
    """An organization's key for the REST API or SCIM. Only a SHA-256 of the key is
    stored; the key is shown once, at creation. Keys are long random strings, so a fast
    hash is enough (there is nothing to brute-force).

    `scopes` says what a key may be used for: `api` (the REST API) or `scim` (SCIM
    provisioning, `/scim/v2/`, and nothing else). A key with no scopes (every key made
    before scopes existed) is an `api` key.

    A REST API key may be `read_only` and limited to `areas` (none: every area); see
    `directory.roles.key_allows`. It stops at `expires_at` when it has one, and never has
    more rights than its creator has now (`directory.keys.api_key_authenticate`)."""

    PREFIX = "stk_"
    SCOPE_API, SCOPE_SCIM = "api", "scim"
    SCOPES = [(SCOPE_API, "REST API"), (SCOPE_SCIM, "SCIM provisioning")]
    AREA_USERS, AREA_GROUPS, AREA_M365, AREA_EVENTS = "users", "groups", "m365", "events"
    AREAS = [
        (AREA_USERS, "Users"),
        (AREA_GROUPS, "Groups"),
        (AREA_M365, "Microsoft 365"),
        (AREA_EVENTS, "Events"),
    ]

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    lookup = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    scopes = models.JSONField(default=list, blank=True)
    read_only = models.BooleanField(default=False)
    areas = models.JSONField(default=list, blank=True)  # [] is every area
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_from = models.GenericIPAddressField(null=True, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.name

    @property
    def label(self) -> str:
        """How events and pages name the key: its name and public prefix, never the secret."""
        return f"{self.name} ({self.PREFIX}{self.lookup}_…)"

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def area_labels(self) -> list[str]:
        names = dict(self.AREAS)
        return [names.get(area, area) for area in self.areas]

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def allows(self, scope: str) -> bool:
        return scope in (self.scopes or [self.SCOPE_API])

    def event_target(self):
        return ("api_key", self.pk, self.name)


# --- account lifecycle (directory.lifecycle) -------------------------------------------


class AccountToken(models.Model):
    """A single-use link sent by email: activation (set the first password) or password
    reset. Only a SHA-256 of the token is stored, found by its public `lookup` part and
    compared in constant time."""

    ACTIVATION, RESET = "activation", "reset"
    PURPOSES = [(ACTIVATION, "Activation"), (RESET, "Password reset")]

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="account_tokens")
    purpose = models.CharField(max_length=16, choices=PURPOSES)
    lookup = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.purpose} link for {self.user}"

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def is_usable(self, now=None) -> bool:
        return self.used_at is None and self.expires_at > (now or timezone.now())


class SentEmail(models.Model):
    """One email the directory sent (or tried to send): to whom, what, when, and why it
    failed if it did. Admins see a user's emails on the user's page. `dedupe_key` makes
    a message that must go out only once (an expiry warning) unique per recipient.

    Until it is sent, `payload` holds the rendered bodies, encrypted (they carry
    activation and reset links, which are secrets); it is erased once the email is sent
    or given up on, so a non-empty payload means "still to deliver". `due_at` is when a
    worker is expected to try it next: the sweep re-queues one whose task was lost."""

    ACTIVATION = "activation"
    RESET = "reset"
    EXPIRY_WARNING = "expiry_warning"
    PASSWORD_CHANGED = "password_changed"
    MFA_RESET = "mfa_reset"
    KINDS = [
        (ACTIVATION, "Welcome and activation"),
        (RESET, "Password reset link"),
        (EXPIRY_WARNING, "Password expiry warning"),
        (PASSWORD_CHANGED, "Password changed"),
        (MFA_RESET, "Second factors reset"),
    ]

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="sent_emails", null=True
    )
    # Empty for a notice to an admin address that is not about one user (bridges).
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="sent_emails", null=True, blank=True
    )
    to = models.EmailField(max_length=254)
    kind = models.CharField(max_length=32, choices=KINDS)
    subject = models.CharField(max_length=255)
    dedupe_key = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)  # the last failure, if any
    payload = models.TextField(blank=True)  # encrypted bodies, erased once done
    attempts = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField(default=timezone.now)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                "user",
                "dedupe_key",
                name="sent_email_once",
                condition=~models.Q(dedupe_key=""),
            ),
            models.UniqueConstraint(
                "organization",
                "to",
                "dedupe_key",
                name="sent_email_once_to_address",
                condition=models.Q(user__isnull=True) & ~models.Q(dedupe_key=""),
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "user", "-created_at"]),
            models.Index(
                fields=["due_at"],
                name="sent_email_pending",
                condition=models.Q(sent_at__isnull=True) & ~models.Q(payload=""),
            ),
        ]

    def __str__(self):
        return f"{self.kind} to {self.to}"

    @property
    def is_pending(self) -> bool:
        """Still to deliver: neither sent nor given up on."""
        return self.sent_at is None and bool(self.payload)


class SignInThrottle(models.Model):
    """Recent failed portal sign-ins for one account (keyed by the email typed, whether
    or not it exists) or one client address. `blocked_until` is when the next attempt
    may be made; `locked` says the block is a lock-out rather than a short slowdown."""

    ACCOUNT, ADDRESS = "account", "address"

    key = models.CharField(max_length=80, unique=True)  # "<scope>:<sha256 of the value>"
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    blocked_until = models.DateTimeField(null=True, blank=True)
    locked = models.BooleanField(default=False)

    def __str__(self):
        return self.key

    @staticmethod
    def key_for(scope: str, value: str) -> str:
        return f"{scope}:{hashlib.sha256(value.strip().lower().encode()).hexdigest()}"


# --- second factors (directory.mfa) --------------------------------------------------------


class PasskeyDevice(Device):
    """A WebAuthn passkey (a platform authenticator or a security key) as a django-otp
    device, so that signing in with it marks the session verified like an app code. The
    ceremony is checked by py_webauthn (`directory.passkeys`); only the credential's id,
    public key and signature counter are kept (nothing secret)."""

    credential_id = models.BinaryField(unique=True)
    public_key = models.BinaryField()
    sign_count = models.PositiveBigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta(Device.Meta):
        verbose_name = "passkey"


# --- sign-in audit and sessions (directory.sessions) ---------------------------------------


class UserSession(models.Model):
    """A signed-in browser session of a person, so they can see where they are signed in
    and sign the others out, and an owner can end all of them. `session_key` is Django's
    session key (a secret: never shown, only used to delete the session)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="web_sessions")
    session_key = models.CharField(max_length=64, unique=True)
    surface = models.CharField(max_length=16)  # "console" or "portal"
    address = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.user_id} from {self.address}"


class KnownSignInAddress(models.Model):
    """An address this person signed in from successfully: an account lock-out does not
    apply there (the per-address slowdown still does), so strangers cannot lock them out."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="known_addresses")
    address = models.CharField(max_length=64)
    last_success_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint("user", "address", name="known_sign_in_address_unique")
        ]

    def __str__(self):
        return f"{self.user_id} at {self.address}"


class UnknownEmailSignInTally(models.Model):
    """Failed sign-ins with emails that have no account, counted per client address and
    hour instead of one event each (a password-spraying run would flood the log)."""

    address = models.CharField(max_length=64)
    hour = models.DateTimeField()
    failures = models.PositiveIntegerField(default=0)
    last_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint("address", "hour", name="unknown_email_tally_unique")
        ]
        ordering = ["-hour"]

    def __str__(self):
        return f"{self.failures} from {self.address} at {self.hour:%Y-%m-%d %H}h"
