"""Reads of the Microsoft 365 bridge. Every function takes the organization, so no query
reaches another organization's tenants; a missing or foreign tenant is `Http404`."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from directory import hooks
from directory.errors import Conflict, InvalidInput
from directory.models import Organization

from .capabilities import PermissionCheck, permission_check
from .models import (
    BindRun,
    DeprovisionBrake,
    GroupBinding,
    HeldBlock,
    RetainedPassword,
    SyncRun,
    Tenant,
    TenantDomain,
    UserBinding,
)
from .sync import brake as brake_sync


def tenant_list(
    *, organization: Organization, include_deauthorized: bool = True
) -> QuerySet[Tenant]:
    tenants = Tenant.objects.for_organization(organization).prefetch_related("domains")
    if not include_deauthorized:
        tenants = tenants.filter(status__in=Tenant.ACTIVE_STATUSES)
    return tenants.select_related("connected_by").order_by("display_name", "pk")


def tenant_get(*, organization: Organization, pk) -> Tenant:
    try:
        return tenant_list(organization=organization).get(pk=int(pk))
    except (Tenant.DoesNotExist, ValueError, TypeError):
        raise Http404("No such Microsoft 365 tenant.") from None


def tenant_for_email(*, organization: Organization, email: str) -> Tenant:
    """The tenant a user with this email is bound to (C3): the connected tenant of the
    organization whose verified domains contain the email's domain. Used by every path
    that binds a user."""
    domain = (email or "").strip().rpartition("@")[2].lower()
    if not domain or "@" not in (email or ""):
        raise InvalidInput.for_field("email", "Enter a valid email address.")
    tenant_ids = list(
        TenantDomain.objects.filter(active=True, name=domain, tenant__organization=organization)
        .values_list("tenant_id", flat=True)
        .distinct()
    )
    if not tenant_ids:
        message = (
            f"No connected Microsoft 365 tenant of your organization has {domain} as a "
            "verified domain, so this user cannot be bound. Verify the domain in "
            "Microsoft 365, or give the user an address on a verified domain."
        )
        raise InvalidInput(message, fields={"email": [message]}, code="no_tenant_for_domain")
    if len(tenant_ids) > 1:
        message = (
            f"The domain {domain} is verified in more than one connected tenant; "
            "Stratus cannot tell which one owns this user."
        )
        raise Conflict(message, fields={"email": [message]}, code="ambiguous_tenant")
    return Tenant.objects.get(pk=tenant_ids[0])


def tenant_permission_check(*, tenant: Tenant) -> PermissionCheck:
    return permission_check(
        mode=tenant.mode, permissions=tenant.granted_permissions, roles=tenant.directory_roles
    )


# --- bindings ------------------------------------------------------------------------------------


def binding_for_user(*, organization: Organization, user) -> UserBinding | None:
    return (
        UserBinding.objects.for_organization(organization)
        .select_related("tenant")
        .filter(user=user)
        .first()
    )


def binding_get(*, organization: Organization, pk) -> UserBinding:
    try:
        return (
            UserBinding.objects.for_organization(organization)
            .select_related("tenant", "user")
            .get(pk=int(pk))
        )
    except (UserBinding.DoesNotExist, ValueError, TypeError):
        raise Http404("No such binding.") from None


def binding_state_counts(*, tenant: Tenant) -> dict[str, int]:
    """How many bindings of the tenant are in each state, plus how many have changes
    waiting to be sent (`queued`)."""
    counts = {state: 0 for state, _ in UserBinding.STATES}
    rows = (
        UserBinding.objects.filter(tenant=tenant).values("state").annotate(n=Count("pk")).order_by()
    )
    for row in rows:
        counts[row["state"]] = row["n"]
    counts["queued"] = UserBinding.objects.filter(tenant=tenant, needs_sync=True).count()
    return counts


def binding_problems(*, tenant: Tenant, limit: int = 200) -> QuerySet[UserBinding]:
    """Bindings an admin must look at: in error or waiting, with Microsoft's reason."""
    return (
        UserBinding.objects.filter(
            tenant=tenant, state__in=[UserBinding.ERROR, UserBinding.WAITING]
        )
        .select_related("user")
        .order_by("-last_error_at", "pk")[:limit]
    )


def group_binding_problems(*, tenant: Tenant, limit: int = 200) -> QuerySet[GroupBinding]:
    """Group bindings in error, with Microsoft's reason (the tenant page lists them)."""
    return (
        GroupBinding.objects.filter(tenant=tenant, state=GroupBinding.ERROR)
        .select_related("group")
        .order_by("-last_error_at", "pk")[:limit]
    )


def bind_run_progress(*, tenant: Tenant) -> dict | None:
    """The latest bulk bind of the tenant: how many of its accounts are done."""
    run = BindRun.objects.filter(tenant=tenant).order_by("-created_at", "-pk").first()
    if run is None:
        return None
    bindings = UserBinding.objects.filter(bind_run=run)
    failed = bindings.filter(state__in=[UserBinding.ERROR, UserBinding.WAITING]).count()
    done = (
        bindings.filter(needs_sync=False)
        .exclude(state__in=[UserBinding.ERROR, UserBinding.WAITING])
        .count()
    )
    return {
        "run": run.pk,
        "total": run.total,
        "done": done,
        "failed": failed,
        "finished": done + failed >= run.total,
        "started_at": run.created_at.isoformat(),
    }


def _ago(moment) -> str:
    seconds = max(0, int((timezone.now() - moment).total_seconds()))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size or size == 1:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return ""


def binding_service_status(*, user) -> list[hooks.ServiceStatus]:
    """The user's Microsoft 365 row on the portal home (registered as a service-status
    provider): whether their password reached Microsoft 365, in plain words."""
    binding = (
        UserBinding.objects.filter(user_id=getattr(user, "pk", None), bound=True)
        .select_related("tenant")
        .first()
    )
    if binding is None:
        return []
    row = {
        "service": "Microsoft 365",
        "account": binding.known_properties.get("userPrincipalName") or user.email,
        "where": binding.tenant.display_name or binding.tenant.microsoft_tenant_id,
        "state_label": binding.get_state_display(),
    }
    password_waiting = binding.password_version > binding.password_pushed_version
    if binding.state == UserBinding.ERROR:
        reason = binding.last_error_message or "Microsoft 365 refused the change."
        what = "password" if password_waiting else "account"
        return [
            hooks.ServiceStatus(
                **row,
                state="error",
                updated_at=binding.last_error_at,
                message=f"Your Microsoft 365 {what} could not be updated: {reason}",
            )
        ]
    if binding.state == UserBinding.WAITING:
        return [
            hooks.ServiceStatus(
                **row,
                state="pending",
                updated_at=binding.last_error_at,
                message=f"Your Microsoft 365 account is waiting: {binding.last_error_message}",
            )
        ]
    if password_waiting:
        return [
            hooks.ServiceStatus(
                **row, state="pending", message="Your Microsoft 365 password is being updated."
            )
        ]
    if not binding.microsoft_id:
        return [
            hooks.ServiceStatus(
                **row, state="pending", message="Your Microsoft 365 account is being created."
            )
        ]
    if binding.known_enabled is False:
        return [
            hooks.ServiceStatus(
                **row,
                state="blocked",
                updated_at=binding.synced_at,
                message="Sign-in to your Microsoft 365 account is blocked.",
            )
        ]
    if binding.password_pushed_at:
        return [
            hooks.ServiceStatus(
                **row,
                state="ok",
                updated_at=binding.password_pushed_at,
                message="Your Microsoft 365 password was updated "
                f"{_ago(binding.password_pushed_at)}.",
            )
        ]
    return [
        hooks.ServiceStatus(
            **row,
            state="ok",
            updated_at=binding.synced_at,
            message="Your Microsoft 365 account is ready; set a password here to use it.",
        )
    ]


# --- reconcile (P5) ------------------------------------------------------------------------------


def sync_run_list(*, tenant: Tenant, limit: int = 20) -> QuerySet[SyncRun]:
    """The tenant's latest reconciles, newest first (its sync history)."""
    return (
        SyncRun.objects.filter(organization_id=tenant.organization_id, tenant=tenant)
        .select_related("actor")
        .order_by("-started_at", "-pk")[:limit]
    )


def tenant_reconcile_running(*, tenant: Tenant) -> bool:
    until = Tenant.objects.filter(pk=tenant.pk).values_list("reconcile_until", flat=True).first()
    return until is not None and until > timezone.now()


def tenants_for_users(*, organization: Organization, users) -> dict[int, list]:
    """For the bind dialog: which tenant each user would be bound to, as
    {tenant_pk: [users]}, with `None` for users no connected tenant owns."""
    grouped: dict = {}
    cache: dict[str, Tenant | None] = {}
    for user in users:
        domain = user.email.rpartition("@")[2].lower()
        if domain not in cache:
            try:
                cache[domain] = tenant_for_email(organization=organization, email=user.email)
            except (InvalidInput, Conflict):
                cache[domain] = None
        grouped.setdefault(cache[domain], []).append(user)
    return grouped


def binding_password_rules(*, user) -> list[dict]:
    """Microsoft's password rules as data for the portal's live checklist, for users
    bound to a tenant (the server applies them all through `add_password_check`)."""
    bound = UserBinding.objects.filter(
        user_id=getattr(user, "pk", None), bound=True, tenant__status__in=Tenant.ACTIVE_STATUSES
    ).exists()
    if not bound:
        return []
    return [
        {
            "code": "m365_length",
            "label": "Microsoft 365: 8 to 256 characters",
            "kind": "min_length",
            "value": 8,
        },
        {
            "code": "m365_max_length",
            "label": "Microsoft 365: at most 256 characters",
            "kind": "max_length",
            "value": 256,
        },
        {
            "code": "m365_classes",
            "label": "Microsoft 365: three of lowercase letters, uppercase "
            "letters, digits and symbols",
            "kind": "min_classes",
            "value": 3,
        },
        {
            "code": "m365_common",
            "label": "Microsoft 365: not built on a common word or your "
            "name (checked when you save)",
            "kind": "m365_banned",
        },
    ]


def group_bindings_for_group(*, organization: Organization, group) -> QuerySet[GroupBinding]:
    """The tenants a group is synced to as a security group (G1)."""
    return (
        GroupBinding.objects.for_organization(organization)
        .select_related("tenant")
        .filter(group=group)
        .order_by("tenant__display_name", "pk")
    )


def group_binding_get(*, organization: Organization, pk) -> GroupBinding:
    try:
        return (
            GroupBinding.objects.for_organization(organization)
            .select_related("tenant", "group")
            .get(pk=int(pk))
        )
    except (GroupBinding.DoesNotExist, ValueError, TypeError):
        raise Http404("No such group binding.") from None


def bindings_password_pending(*, bindings, pending: bool = True):
    """Of `bindings`, those bound without a password Stratus holds (or, with
    `pending=False`, the others): `UserBinding.password_pending` as a query."""
    condition = Q(bound=True, user__isnull=False, password_encrypted="")
    return bindings.filter(condition) if pending else bindings.exclude(condition)


def user_password_pending_condition(*, organization: Organization):
    """For annotating a user queryset: the user's binding is password pending."""
    return Exists(
        bindings_password_pending(
            bindings=UserBinding.objects.for_organization(organization).filter(user=OuterRef("pk"))
        )
    )


def users_without_held_password(*, users) -> tuple[list, list]:
    """Of users about to be bound, (those whose password Stratus does not hold, those
    who have none yet). The first get a random Microsoft 365 password until their next
    portal sign-in; the second until they activate. Users whose password is retained or
    already on their binding are in neither list."""
    now = timezone.now()
    retained = set(
        RetainedPassword.objects.filter(
            user__in=[u.pk for u in users], expires_at__gt=now
        ).values_list("user_id", flat=True)
    )
    held = set(
        UserBinding.objects.filter(user__in=[u.pk for u in users])
        .exclude(password_encrypted="")
        .values_list("user_id", flat=True)
    )
    staged = [u for u in users if not u.has_usable_password()]
    missing = [
        u for u in users if u.has_usable_password() and u.pk not in retained and u.pk not in held
    ]
    return missing, staged


def tenant_brake_status(*, tenant: Tenant, limit: int = 500) -> dict:
    """The deprovision brake of a tenant as its page shows it: thresholds, blocks sent
    in the current window, whether it holds blocks, and the held blocks with who and
    what caused them."""
    brake = DeprovisionBrake.objects.filter(tenant=tenant).first() or DeprovisionBrake(
        tenant=tenant, organization_id=tenant.organization_id
    )
    held = held_blocks(tenant=tenant)
    return {
        "brake": brake,
        "limit": brake_sync.brake_limit(brake),
        "window_minutes": int(brake_sync.window().total_seconds() // 60),
        "sent_recently": brake_sync.blocks_sent_recently(tenant.pk),
        "held_count": held.count(),
        "held": held[:limit],
    }


def held_blocks(*, tenant: Tenant):
    """The blocks the deprovision brake holds for the tenant, oldest first, with who
    caused them."""
    return (
        HeldBlock.objects.for_organization(tenant.organization)
        .filter(tenant=tenant, released_at__isnull=True)
        .select_related("actor", "binding")
        .order_by("held_at", "pk")
    )
