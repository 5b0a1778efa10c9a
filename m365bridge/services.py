"""Writes of the Microsoft 365 bridge: connecting, re-authorizing and deauthorizing
tenants, and keeping what Stratus knows about each tenant (domains, permissions,
token cache) current. Every function that changes state is atomic, takes `actor=`
and records its event in the same transaction."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import event_record
from directory import encryption
from directory.errors import Conflict, InvalidInput, NotAllowed, ServiceError
from directory.models import Organization, User

from . import graph
from .capabilities import claims_permissions
from .events import tenant_event
from .graph.auth import (
    ConnectError,
    admin_consent_url,
    auth_code_flow_finish,
    auth_code_flow_start,
    plain_words,
)
from .graph.tenant import graph_config, tenant_graph, token_source
from .models import GroupBinding, Tenant, TenantDomain, UserBinding
from .tenants import tenant_mark_needs_reauthorization, tenant_record_error

log = logging.getLogger(__name__)

TENANT_TAKEN = (
    "This Microsoft 365 tenant is already connected to Stratus. Two owners of one "
    "tenant would fight over its users, so it can be connected only once."
)
TENANT_TAKEN_HERE = (
    "This Microsoft 365 tenant is already connected to your organization. "
    "Open it to re-authorize it instead."
)
PARTNER_FEDERATED = (
    "Stratus cannot manage this tenant: its domain {domain} signs users in through "
    "{partner}, the partner that sold the Microsoft 365 subscription (its identities are "
    "federated to the partner). Microsoft does not let Stratus set passwords for such "
    "users. Ask the partner to defederate the domain (switch it to Managed), then connect "
    "again."
)


class ConnectRefused(ServiceError):
    code = "connect_refused"
    status = 400


# --- connecting ------------------------------------------------------------------------------


@dataclass
class ConnectStart:
    """Where to send the admin, and what to keep in their session until they return."""

    url: str
    state: str
    pending: dict[str, Any]


def tenant_connect_begin(
    *,
    actor: User,
    organization: Organization,
    mode: str,
    redirect_uri: str,
    tenant: Tenant | None = None,
) -> ConnectStart:
    """Start connecting a tenant (or re-authorizing `tenant`). The caller keeps
    `pending` server-side, bound to the admin's session, under `state`."""
    if mode not in (Tenant.DELEGATED, Tenant.APPLICATION):
        raise InvalidInput.for_field("mode", "Choose delegated or application.")
    if tenant is not None and tenant.organization_id != organization.pk:
        raise NotAllowed("This tenant belongs to another organization.")
    config = graph_config()
    authority = tenant.microsoft_tenant_id if tenant else "organizations"
    pending = {
        "organization_id": organization.pk,
        "user_id": actor.pk,
        "mode": mode,
        "tenant_pk": tenant.pk if tenant else None,
        "authority": authority,
        "started_at": timezone.now().isoformat(),
    }
    if mode == Tenant.DELEGATED:
        try:
            flow = auth_code_flow_start(config, redirect_uri=redirect_uri, tenant=authority)
        except graph.GraphError as exc:
            raise ConnectRefused(f"Microsoft 365 sign-in is not reachable: {exc}") from None
        pending["flow"] = flow
        return ConnectStart(url=flow["auth_uri"], state=flow["state"], pending=pending)
    state = secrets.token_urlsafe(24)
    url = admin_consent_url(config, redirect_uri=redirect_uri, state=state, tenant=authority)
    return ConnectStart(url=url, state=state, pending=pending)


def tenant_connect_complete(
    *, actor: User, organization: Organization, pending: dict[str, Any], params: dict[str, str]
) -> Tenant:
    """Finish the flow from Microsoft's redirect: confirm the tenant with Graph, refuse
    what Stratus cannot or must not manage, then store the tenant and its tokens."""
    if pending.get("organization_id") != organization.pk or pending.get("user_id") != actor.pk:
        raise ConnectRefused(
            "This sign-in was started by another account. Please start again.",
            code="state_mismatch",
        )
    reauthorize = None
    if pending.get("tenant_pk"):
        reauthorize = (
            Tenant.objects.for_organization(organization).filter(pk=pending["tenant_pk"]).first()
        )
        if reauthorize is None:
            raise ConnectRefused("The tenant to re-authorize no longer exists.")
    mode = pending["mode"]
    config = graph_config()
    store = graph.MemoryTokenStore()
    authorized_upn = authorized_oid = ""
    try:
        if mode == Tenant.DELEGATED:
            claims, serialized = auth_code_flow_finish(
                config, flow=pending["flow"], params=params, tenant=pending["authority"]
            )
            store.save(serialized)
            tenant_id = str(claims.get("tid") or "")
            authorized_upn = str(claims.get("preferred_username") or "")
            authorized_oid = str(claims.get("oid") or "")
        else:
            tenant_id = _consented_tenant(params)
    except ConnectError as exc:
        _connect_failed(actor, organization, exc.code or "sign_in_failed", exc.message)
        raise ConnectRefused(exc.message, code=exc.code or "sign_in_failed") from None
    if reauthorize is not None and tenant_id.lower() != reauthorize.microsoft_tenant_id.lower():
        message = (
            f"You signed in to another Microsoft 365 tenant ({tenant_id}) than the one "
            f"being re-authorized ({reauthorize.microsoft_tenant_id}). Sign in with an "
            "admin account of that tenant."
        )
        raise ConnectRefused(message, code="wrong_tenant")

    tokens = token_source(config=config, mode=mode, tenant_id=tenant_id, store=store)
    client = graph.GraphClient(config=config, tokens=tokens)
    try:
        # Never trust the tenant id of a redirect: ask Graph, with a token of that tenant.
        info = _tenant_info(client)
    except graph.GraphError as exc:
        message = f"Stratus could not read the Microsoft 365 tenant: {exc}"
        _connect_failed(actor, organization, exc.code or "graph_error", message)
        raise ConnectRefused(message, code="graph_error") from None
    if info["id"].lower() != tenant_id.lower():
        raise ConnectRefused(
            "Microsoft returned a different tenant than the one that "
            "consented. Nothing was connected.",
            code="tenant_mismatch",
        )
    partner = info["partner_federation"]
    if partner:
        message = PARTNER_FEDERATED.format(domain=partner[0], partner=partner[1])
        _connect_failed(
            actor,
            organization,
            "partner_federated",
            message,
            tenant_id=tenant_id,
            tenant_label=info["display_name"],
        )
        raise ConnectRefused(message, code="partner_federated")
    permissions, roles = claims_permissions(tokens.last_claims)
    try:
        return _tenant_store(
            actor=actor,
            organization=organization,
            reauthorize=reauthorize,
            mode=mode,
            info=info,
            serialized=store.load(),
            permissions=permissions,
            roles=roles,
            authorized_upn=authorized_upn,
            authorized_oid=authorized_oid,
        )
    except Conflict as exc:
        _connect_failed(
            actor,
            organization,
            exc.code,
            exc.message,
            tenant_id=tenant_id,
            tenant_label=info["display_name"],
        )
        raise


def _consented_tenant(params: dict[str, str]) -> str:
    if params.get("error"):
        raise ConnectError(
            plain_words(params["error"], params.get("error_description", "")), code=params["error"]
        )
    if str(params.get("admin_consent", "")).lower() != "true" or not params.get("tenant"):
        raise ConnectError(
            "Microsoft 365 did not confirm the admin consent. Nothing was connected.",
            code="no_consent",
        )
    return params["tenant"]


def _tenant_info(client: graph.GraphClient) -> dict[str, Any]:
    """The tenant's id, name and verified domains, and whether a custom domain is
    federated to the partner that sold it (GoDaddy, graph-facts §7.3)."""
    organization = (client.get("organization") or {}).get("value", [{}])[0]
    domains = []
    for domain in organization.get("verifiedDomains", []):
        domains.append(
            {
                "name": str(domain["name"]).lower(),
                "is_initial": bool(domain.get("isInitial")),
                "is_default": bool(domain.get("isDefault")),
                "authentication_type": str(domain.get("type") or "Managed"),
            }
        )
    return {
        "id": str(organization.get("id") or ""),
        "display_name": str(organization.get("displayName") or ""),
        "domains": domains,
        "partner_federation": _partner_federation(client, domains),
    }


GODADDY_HOSTS = ("godaddy.com", "secureserver.net")


def _partner_federation(client: graph.GraphClient, domains: list[dict]) -> tuple | None:
    """(domain, partner) when a custom domain signs in through GoDaddy, else None."""
    initial = next((d["name"] for d in domains if d["is_initial"]), "")
    for domain in domains:
        if domain["is_initial"] or domain["authentication_type"].lower() != "federated":
            continue
        try:
            config = client.get(f"domains/{domain['name']}/federationConfiguration")
        except graph.AuthorizationError:
            # Cannot read where it federates to; a NETORG initial domain is GoDaddy's mark.
            if initial.startswith("netorg"):
                return (domain["name"], "GoDaddy")
            continue
        for item in (config or {}).get("value", []):
            for key in ("issuerUri", "passiveSignInUri", "activeSignInUri"):
                host = (urlsplit(str(item.get(key) or "")).hostname or "").lower()
                if any(host == h or host.endswith("." + h) for h in GODADDY_HOSTS):
                    return (domain["name"], "GoDaddy")
    return None


@transaction.atomic
def _tenant_store(
    *,
    actor,
    organization,
    reauthorize,
    mode,
    info,
    serialized,
    permissions,
    roles,
    authorized_upn,
    authorized_oid,
) -> Tenant:
    tenant_id = info["id"].lower()
    live = Tenant.objects.select_for_update().filter(
        microsoft_tenant_id=tenant_id, status__in=Tenant.ACTIVE_STATUSES
    )
    if reauthorize is None:
        existing = live.first()
        if existing is not None:
            same_org = existing.organization_id == organization.pk
            raise Conflict(TENANT_TAKEN_HERE if same_org else TENANT_TAKEN, code="tenant_taken")
        tenant = Tenant.objects.for_organization(organization).filter(
            microsoft_tenant_id=tenant_id
        ).first() or Tenant(organization=organization, microsoft_tenant_id=tenant_id)
    else:
        tenant = Tenant.objects.select_for_update().get(pk=reauthorize.pk)
    names = [d["name"] for d in info["domains"]]
    taken = TenantDomain.objects.filter(active=True, name__in=names)
    if tenant.pk:
        taken = taken.exclude(tenant=tenant)
    taken_names = sorted(taken.values_list("name", flat=True))
    if taken_names:
        raise Conflict(
            f"The domain {', '.join(taken_names)} is already connected to Stratus through "
            "another Microsoft 365 tenant. One domain can have only one owner, so this "
            "tenant cannot be connected.",
            code="domain_taken",
        )
    now = timezone.now()
    reconnect = bool(tenant.pk) and tenant.status == Tenant.DEAUTHORIZED
    tenant.mode = mode
    tenant.status = Tenant.CONNECTED
    tenant.display_name = info["display_name"]
    tenant.initial_domain = next((d["name"] for d in info["domains"] if d["is_initial"]), "")
    tenant.connected_by = actor
    tenant.authorized_by_upn, tenant.authorized_by_oid = authorized_upn, authorized_oid
    tenant.granted_permissions, tenant.directory_roles = permissions, roles
    tenant.permissions_checked_at = tenant.domains_refreshed_at = now
    tenant.token_cache_encrypted = encryption.encrypt(serialized) if serialized else ""
    tenant.last_error, tenant.last_error_at = "", None
    tenant.deauthorized_at = None
    if reauthorize is None:
        tenant.connected_at = now
    try:
        with transaction.atomic():
            tenant.save()
            _domains_replace(tenant, info["domains"])
    except IntegrityError:  # another admin connected it at the same moment
        raise Conflict(TENANT_TAKEN, code="tenant_taken") from None
    if reauthorize is not None:  # the work held while tokens did not work goes out now
        from .sync.intent import sync_after_commit

        sync_after_commit(tenant_id=tenant.pk)
    tenant_event(
        tenant=tenant,
        type="tenant_reauthorize" if reauthorize else "tenant_connect",
        actor=actor,
        details={
            "mode": mode,
            "microsoft_tenant_id": tenant.microsoft_tenant_id,
            "domains": [d["name"] for d in info["domains"]],
            "authorized_by": authorized_upn,
            "reconnected": reconnect,
        },
    )
    return tenant


def _domains_replace(tenant: Tenant, domains: list[dict]) -> None:
    tenant.domains.exclude(name__in=[d["name"] for d in domains]).delete()
    for domain in domains:
        TenantDomain.objects.update_or_create(
            tenant=tenant,
            name=domain["name"],
            defaults={
                "is_initial": domain["is_initial"],
                "is_default": domain["is_default"],
                "authentication_type": domain["authentication_type"],
                "active": tenant.is_active,
            },
        )


def _connect_failed(
    actor, organization, code: str, message: str, *, tenant_id: str = "", tenant_label: str = ""
) -> None:
    with transaction.atomic():
        event_record(
            organization=organization,
            type="tenant_connect",
            actor=actor,
            outcome="failure",
            tenant_ref=tenant_id,
            tenant_label=tenant_label,
            target_type="m365_tenant",
            target_id=tenant_id,
            target_label=tenant_label,
            details={"code": code, "reason": message},
        )


# --- keeping a tenant current ----------------------------------------------------------------


def tenant_refresh(*, tenant: Tenant) -> Tenant:
    """Re-read the tenant's verified domains and what its token carries (on demand and
    on every sync). A token that no longer works turns the tenant to
    `needs_reauthorization`; other failures are stored as its last error."""
    client = tenant_graph(tenant=tenant, budget=False)
    try:
        # A fresh token: consent and roles may have changed since the cached one.
        client.tokens.token(force_refresh=True)
        info = _tenant_info(client)
    except graph.NeedsReauthorization as exc:
        return tenant_mark_needs_reauthorization(tenant=tenant, reason=str(exc))
    except graph.GraphError as exc:
        return tenant_record_error(tenant=tenant, message=str(exc))
    permissions, roles = claims_permissions(client.tokens.last_claims)
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        now = timezone.now()
        tenant.display_name = info["display_name"] or tenant.display_name
        tenant.granted_permissions, tenant.directory_roles = permissions, roles
        tenant.permissions_checked_at = tenant.domains_refreshed_at = now
        tenant.last_error, tenant.last_error_at = "", None
        tenant.save(
            update_fields=[
                "display_name",
                "granted_permissions",
                "directory_roles",
                "permissions_checked_at",
                "domains_refreshed_at",
                "last_error",
                "last_error_at",
                "updated_at",
            ]
        )
        try:
            with transaction.atomic():
                _domains_replace(tenant, info["domains"])
        except IntegrityError:
            return tenant_record_error(
                tenant=tenant,
                message=(
                    "A domain newly verified in this tenant is already connected to Stratus "
                    "through another tenant; it is ignored here."
                ),
            )
    return tenant


# --- deauthorizing -------------------------------------------------------------------------------

# Functions `(tenant) -> int` that drop further per-tenant state when a tenant is
# deauthorized (for example queued sync intent); each returns how many rows it removed.
deauthorize_hooks: list[Callable[[Tenant], int]] = []


@transaction.atomic
def tenant_deauthorize(*, actor: User, tenant: Tenant) -> Tenant:
    """Destroy the tenant's tokens and unselect every user and group bound to it. Nothing
    is written to Microsoft: accounts stay enabled there and active in Stratus (C4)."""
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if tenant.status == Tenant.DEAUTHORIZED:
        return tenant
    _, removed = UserBinding.objects.filter(tenant=tenant).delete()
    users = removed.get(UserBinding._meta.label, 0)
    _, removed = GroupBinding.objects.filter(tenant=tenant).delete()
    groups = removed.get(GroupBinding._meta.label, 0)
    other = sum(hook(tenant) for hook in deauthorize_hooks)
    tenant.status = Tenant.DEAUTHORIZED
    tenant.token_cache_encrypted = ""
    tenant.deauthorized_at = timezone.now()
    tenant.granted_permissions, tenant.directory_roles = [], []
    tenant.save()
    tenant.domains.update(active=False)
    tenant_event(
        tenant=tenant,
        type="tenant_deauthorize",
        actor=actor,
        details={
            "bindings_removed": users + groups,
            "user_bindings_removed": users,
            "group_bindings_removed": groups,
            "other_removed": other,
        },
    )
    return tenant


# --- binding users (provisioning, DESIGN P1-P4) ----------------------------------------------


@dataclass
class BindResult:
    """What happened to one user of a bind request, in words an admin reads."""

    user_id: int
    email: str
    ok: bool
    code: str
    message: str
    binding: UserBinding | None = None


BOUND_ELSEWHERE = (
    "{email} is already bound to the Microsoft 365 tenant {tenant}. A user is "
    "bound to at most one tenant; unbind it there first."
)


def _tenant_resolver(organization: Organization):
    """`tenant_for_email` per email domain, asked once per domain (bulk binds)."""
    from .selectors import tenant_for_email

    answers: dict[str, Tenant | ServiceError] = {}

    def resolve(email: str) -> Tenant:
        domain = email.rpartition("@")[2].lower()
        if domain not in answers:
            try:
                answers[domain] = tenant_for_email(organization=organization, email=email)
            except ServiceError as exc:
                answers[domain] = exc
        answer = answers[domain]
        if isinstance(answer, ServiceError):
            raise answer
        return answer

    return resolve


def _bind_check(user: User, tenant: Tenant, existing: UserBinding | None, resolve) -> BindResult:
    """C3 for one user: refused (ok False) or fine (ok True, code "bind"/"rebind"/...)."""
    result = BindResult(user_id=user.pk, email=user.email, ok=False, code="", message="")
    if existing is not None and existing.tenant_id != tenant.pk:
        result.code = "bound_elsewhere"
        result.message = BOUND_ELSEWHERE.format(email=user.email, tenant=existing.tenant)
        return result
    try:
        owner = resolve(user.email)
    except ServiceError as exc:
        result.code, result.message = exc.code, exc.message
        return result
    if owner.pk != tenant.pk:
        result.code = "other_tenant"
        result.message = (
            f"{user.email} belongs to the Microsoft 365 tenant {owner}, whose "
            "verified domains contain its domain; bind it there."
        )
        return result
    result.ok = True
    if existing is None:
        result.code, result.message = "bound", "Bound; the Microsoft 365 account is being created."
    elif not existing.bound:
        result.code, result.message = "rebound", "Bound again; sign-in is being unblocked."
    else:
        result.code, result.message = "already_bound", "Already bound to this tenant."
    result.binding = existing
    return result


@transaction.atomic
def users_bind(*, actor: User | None, tenant: Tenant, users: list[User]) -> list[BindResult]:
    """Bind many users to a tenant (console bulk action, API). Each user is checked on
    its own (C3) and gets its own result; the accounts are created by workers, packed
    into `$batch` requests. One event records the bulk bind."""
    from .models import BindRun
    from .sync.intent import binding_mark_dirty, sync_after_commit

    if not tenant.is_active:
        raise InvalidInput(
            "This tenant is not connected; connect it again before binding users.",
            code="tenant_not_connected",
        )
    organization = tenant.organization
    existing = {
        b.user_id: b
        for b in UserBinding.objects.for_organization(organization)
        .filter(user__in=[u.pk for u in users])
        .select_related("tenant")
    }
    resolve = _tenant_resolver(organization)
    results, new, rebind = [], [], []
    seen = set()
    for user in users:
        if user.pk in seen:
            continue
        seen.add(user.pk)
        if user.organization_id != organization.pk:
            results.append(
                BindResult(
                    user_id=user.pk, email="", ok=False, code="not_found", message="No such user."
                )
            )
            continue
        result = _bind_check(user, tenant, existing.get(user.pk), resolve)
        results.append(result)
        if result.code == "bound":
            new.append(user)
        elif result.code == "rebound":
            rebind.append(result.binding.pk)
    if not new and not rebind:
        return results
    run = BindRun.objects.create(
        organization=organization, tenant=tenant, actor=actor, total=len(new) + len(rebind)
    )
    actor_id = getattr(actor, "pk", None)
    created = UserBinding.objects.bulk_create(
        [
            UserBinding(
                organization=organization,
                tenant=tenant,
                user=user,
                user_ref=user.pk,
                user_label=user.email,
                bind_run=run,
                intent_actor_id=actor_id,
            )
            for user in new
        ]
    )
    by_user = {b.user_id: b for b in created}
    if rebind:
        binding_mark_dirty(
            bindings=UserBinding.objects.filter(pk__in=rebind),
            actor_id=actor_id,
            bound=True,
            bind_run=run,
            next_attempt_at=None,
        )
    for result in results:
        if result.code == "bound":
            result.binding = by_user[result.user_id]
    if len(users) == 1 and results[0].ok:
        tenant_event(
            tenant=tenant,
            type="m365_user_bind",
            actor=actor,
            target=users[0],
            details={"rebound": bool(rebind)},
        )
    else:
        tenant_event(
            tenant=tenant,
            type="m365_users_bind",
            actor=actor,
            details={
                "bound": len(new),
                "rebound": len(rebind),
                "refused": sum(1 for r in results if not r.ok),
                "run": run.pk,
            },
        )
    sync_after_commit(tenant_id=tenant.pk)
    return results


def user_bind(*, actor: User | None, tenant: Tenant, user: User) -> UserBinding:
    """Bind one user; a refusal is raised with its reason (C3)."""
    result = users_bind(actor=actor, tenant=tenant, users=[user])[0]
    if not result.ok:
        raise Conflict(result.message, code=result.code)
    return result.binding or UserBinding.objects.get(user=user)


@transaction.atomic
def user_unbind(*, actor: User | None, user: User) -> UserBinding | None:
    """Unbind a user: a worker blocks sign-in to the Microsoft 365 account (it is never
    deleted), then forgets the binding. The retained password is deleted now."""
    from .sync.intent import binding_mark_dirty, sync_after_commit

    binding = (
        UserBinding.objects.select_for_update().select_related("tenant").filter(user=user).first()
    )
    if binding is None or not binding.bound:
        return binding
    binding_mark_dirty(
        bindings=UserBinding.objects.filter(pk=binding.pk),
        actor_id=getattr(actor, "pk", None),
        bound=False,
        password_encrypted="",
        next_attempt_at=None,
    )
    tenant_event(tenant=binding.tenant, type="m365_user_unbind", actor=actor, target=user)
    sync_after_commit(tenant_id=binding.tenant_id)
    binding.refresh_from_db()
    return binding


@transaction.atomic
def binding_retry(*, actor: User | None, binding: UserBinding, resend: bool = False) -> UserBinding:
    """Try a binding again now (after an error, while waiting, or "sync now"). With
    `resend`, every synced attribute is sent again, overwriting changes made in
    Microsoft 365."""
    from .sync.intent import binding_mark_dirty, sync_after_commit

    fields = {"next_attempt_at": None}
    if resend:
        fields["known_properties"] = {}
    binding_mark_dirty(
        bindings=UserBinding.objects.filter(pk=binding.pk),
        actor_id=getattr(actor, "pk", None),
        **fields,
    )
    sync_after_commit(tenant_id=binding.tenant_id)
    binding.refresh_from_db()
    return binding


@transaction.atomic
def bindings_retry_failed(*, actor: User | None, tenant: Tenant) -> int:
    """ "Retry all failed": every binding of the tenant in error or waiting, now."""
    from .sync.intent import binding_mark_dirty, sync_after_commit

    failed = UserBinding.objects.filter(
        tenant=tenant, state__in=[UserBinding.ERROR, UserBinding.WAITING]
    )
    count = binding_mark_dirty(
        bindings=failed, actor_id=getattr(actor, "pk", None), next_attempt_at=None
    )
    if count:
        sync_after_commit(tenant_id=tenant.pk)
    return count


def binding_password_problems(*, user, password: str) -> list[str]:
    """Microsoft's password rules, for users bound to a tenant (registered with
    `directory.hooks.add_password_check`, so a password Microsoft would refuse is refused
    before it is saved, P3)."""
    from .passwords import microsoft_password_problems

    if user is None or user.pk is None:
        return []
    binding = (
        UserBinding.objects.filter(user_id=user.pk, bound=True).select_related("tenant").first()
    )
    if binding is None or not binding.tenant.is_active:
        return []
    return microsoft_password_problems(
        password,
        first_name=user.first_name,
        last_name=user.last_name,
        tenant_name=binding.tenant.display_name,
    )


# --- binding groups (security groups, DESIGN G1) ---------------------------------------------


@transaction.atomic
def group_bind(*, actor: User | None, tenant: Tenant, group) -> GroupBinding:
    """Sync a group to a tenant as a security group: a worker creates it (with the
    members that have an account there) and keeps its name and members following
    Stratus. A group may be synced to several tenants, each with the members that
    have an account there. Binding it again to the same tenant changes nothing."""
    from .sync.intent import sync_after_commit

    if group.organization_id != tenant.organization_id:
        raise InvalidInput("No such group.", code="not_found", fields={"group": ["No such group."]})
    if not tenant.is_active:
        raise InvalidInput(
            "This tenant is not connected; connect it again before syncing groups.",
            code="tenant_not_connected",
            fields={"tenant": ["This tenant is not connected."]},
        )
    existing = GroupBinding.objects.filter(group=group, tenant=tenant).first()
    if existing is not None:
        return existing
    binding = GroupBinding.objects.create(
        organization=tenant.organization,
        tenant=tenant,
        group=group,
        intent_actor=actor if getattr(actor, "pk", None) else None,
    )
    tenant_event(tenant=tenant, type="m365_group_bind", actor=actor, target=binding)
    sync_after_commit(tenant_id=tenant.pk)
    return binding


@transaction.atomic
def group_unbind(*, actor: User | None, binding: GroupBinding) -> GroupBinding | None:
    """Stop syncing a group to a tenant. The security group in Microsoft 365 is NOT
    deleted (that is permanent there) and keeps its members; Stratus stops managing it."""
    binding = (
        GroupBinding.objects.select_for_update()
        .select_related("tenant__organization", "group")
        .filter(pk=binding.pk)
        .first()
    )
    if binding is None:
        return None
    tenant_event(
        tenant=binding.tenant,
        type="m365_group_unbind",
        actor=actor,
        target=binding,
        details={
            "microsoft_id": binding.microsoft_id,
            "microsoft_group_kept": bool(binding.microsoft_id),
        },
    )
    binding.delete()
    return binding


# --- reconcile (P5) -------------------------------------------------------------------------


def tenant_sync_now(*, actor: User, tenant: Tenant) -> None:
    """ "Sync now": queue a reconcile of the tenant (after commit). A run already going
    on makes the queued one stop at once, with a note in the sync history."""
    from .sync.reconcile import reconcile_send

    if not tenant.can_sync:
        raise Conflict(
            f"{tenant} is {tenant.get_status_display().lower()}: re-authorize it before syncing.",
            code="tenant_not_connected",
        )
    actor_id = getattr(actor, "pk", None)
    transaction.on_commit(lambda: reconcile_send(tenant_id=tenant.pk, actor_id=actor_id))


def tenant_reconcile(*, tenant: Tenant, actor: User | None = None):
    """Read the tenant's users back from Microsoft 365 now and send their drift for
    correction (the worker's job; returns the recorded `SyncRun`)."""
    from .sync.reconcile import tenant_reconcile as reconcile

    return reconcile(tenant_id=tenant.pk, actor_id=getattr(actor, "pk", None))


def tenant_set_reconcile_interval(*, actor: User, tenant: Tenant, minutes) -> Tenant:
    """How often the tenant is read back from Microsoft 365 (1 to 1440 minutes)."""
    try:
        value = int(minutes)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= 1440:
        raise InvalidInput.for_field(
            "reconcile_interval_minutes", "Enter a whole number of minutes from 1 to 1440."
        )
    with transaction.atomic():
        Tenant.objects.filter(pk=tenant.pk).update(reconcile_interval_minutes=value)
        tenant.reconcile_interval_minutes = value
        tenant_event(
            tenant=tenant,
            type="m365_tenant_update",
            actor=actor,
            details={"reconcile_interval_minutes": value},
        )
    return tenant


def users_bind_to_their_tenants(
    *, actor: User | None, organization: Organization, users: list[User]
) -> list[BindResult]:
    """The console's bulk "Bind to Microsoft 365": each user goes to the tenant that owns
    its email domain (C3); users no tenant owns get their reason. One `users_bind` per
    tenant, so each tenant's accounts are created in batches."""
    resolve = _tenant_resolver(organization)
    by_tenant: dict[int, tuple[Tenant, list[User]]] = {}
    results: list[BindResult] = []
    for user in users:
        try:
            tenant = resolve(user.email)
        except ServiceError as exc:
            results.append(
                BindResult(
                    user_id=user.pk, email=user.email, ok=False, code=exc.code, message=exc.message
                )
            )
            continue
        by_tenant.setdefault(tenant.pk, (tenant, []))[1].append(user)
    for tenant, members in by_tenant.values():
        results.extend(users_bind(actor=actor, tenant=tenant, users=members))
    return results


# --- key rotation (K1) ----------------------------------------------------------------------


@dataclass
class RotationResult:
    passwords: int = 0
    token_caches: int = 0
    unreadable: int = 0


def _rotate_column(
    model, column: str, result: RotationResult, counter: str, batch: int = 500
) -> None:
    last = 0
    while True:
        rows = list(
            model.objects.filter(pk__gt=last)
            .exclude(**{column: ""})
            .order_by("pk")
            .values_list("pk", column)[:batch]
        )
        if not rows:
            return
        for pk, value in rows:
            last = pk
            try:
                rotated = encryption.rotate(value)
            except encryption.InvalidToken:
                result.unreadable += 1  # written with a key no longer configured
                continue
            # Only if unchanged meanwhile: a password set concurrently stays as written.
            if model.objects.filter(pk=pk, **{column: value}).update(**{column: rotated}):
                setattr(result, counter, getattr(result, counter) + 1)


def encryption_keys_rotate() -> RotationResult:
    """Re-encrypt every retained password and MSAL token cache with the first key of
    `FIELD_ENCRYPTION_KEYS`, so older keys can then be removed. Plaintexts never leave
    `directory.encryption`; safe to run while workers run, and to run again."""
    result = RotationResult()
    _rotate_column(UserBinding, "password_encrypted", result, "passwords")
    _rotate_column(Tenant, "token_cache_encrypted", result, "token_caches")
    return result
