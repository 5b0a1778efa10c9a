"""Connecting a Microsoft 365 tenant to an organization, or re-authorizing it.
Connecting is a sign-in (delegated) or an admin consent (application) at Microsoft;
its return is checked with Graph, what Stratus cannot or must not manage is refused
with a `tenant_connect` failure event, and the tenant, its domains and its token cache
are stored in one transaction."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import event_record
from directory import encryption
from directory.errors import Conflict, InvalidInput, NotAllowed, ServiceError
from directory.models import Organization, User

from .. import graph
from ..capabilities import claims_permissions
from ..events import tenant_event
from ..graph.auth import (
    ConnectError,
    admin_consent_url,
    auth_code_flow_finish,
    auth_code_flow_start,
    plain_words,
)
from ..graph.config import GraphConfig
from ..graph.tenant import graph_config, token_source
from ..models import Tenant, TenantDomain
from ..sync.intent import sync_after_commit
from .tenant_info import TenantInfo, tenant_domains_replace, tenant_info_read

TENANT_TAKEN = (
    "This Microsoft 365 tenant is already connected to Stratus. Two owners of one "
    "tenant would fight over its users, so it can be connected only once."
)
TENANT_TAKEN_HERE = (
    "This Microsoft 365 tenant is already connected to your organization. "
    "Open it to re-authorize it instead."
)
DOMAIN_TAKEN = (
    "The domain {domains} is already connected to Stratus through another Microsoft 365 "
    "tenant. One domain can have only one owner, so this tenant cannot be connected."
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


# --- starting ---------------------------------------------------------------------------------


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


# --- completing -------------------------------------------------------------------------------


@dataclass
class SignIn:
    """The tenant Microsoft's redirect names, and the admin who signed in (delegated)."""

    tenant_id: str
    upn: str = ""
    oid: str = ""


@dataclass
class Grant:
    """What the tenant granted Stratus: how it connects, the MSAL token cache, and the
    permissions and directory roles its token carries."""

    mode: str
    token_cache: str
    permissions: list[str]
    roles: list[str]
    upn: str
    oid: str


def tenant_connect_complete(
    *, actor: User, organization: Organization, pending: dict[str, Any], params: dict[str, str]
) -> Tenant:
    """Finish the flow from Microsoft's redirect: confirm the tenant with Graph, refuse
    what Stratus cannot or must not manage, then store the tenant and its tokens."""
    _check_started_by(actor, organization, pending)
    reauthorize = _tenant_to_reauthorize(organization, pending)
    config = graph_config()
    store = graph.MemoryTokenStore()
    signed_in = _sign_in_finish(actor, organization, config, pending, params, store)
    _check_reauthorized_tenant(reauthorize, signed_in.tenant_id)
    tokens = token_source(
        config=config, mode=pending["mode"], tenant_id=signed_in.tenant_id, store=store
    )
    client = graph.GraphClient(config=config, tokens=tokens)
    info = _tenant_confirm(actor, organization, client, signed_in.tenant_id)
    permissions, roles = claims_permissions(tokens.last_claims)
    grant = Grant(
        mode=pending["mode"],
        token_cache=store.load(),
        permissions=permissions,
        roles=roles,
        upn=signed_in.upn,
        oid=signed_in.oid,
    )
    try:
        return _tenant_store(
            actor=actor, organization=organization, reauthorize=reauthorize, info=info, grant=grant
        )
    except Conflict as exc:
        _connect_failed(
            actor,
            organization,
            exc.code,
            exc.message,
            tenant_id=signed_in.tenant_id,
            tenant_label=info.display_name,
        )
        raise


def _check_started_by(actor: User, organization: Organization, pending: dict) -> None:
    if pending.get("organization_id") != organization.pk or pending.get("user_id") != actor.pk:
        raise ConnectRefused(
            "This sign-in was started by another account. Please start again.",
            code="state_mismatch",
        )


def _tenant_to_reauthorize(organization: Organization, pending: dict) -> Tenant | None:
    if not pending.get("tenant_pk"):
        return None
    tenant = Tenant.objects.for_organization(organization).filter(pk=pending["tenant_pk"]).first()
    if tenant is None:
        raise ConnectRefused("The tenant to re-authorize no longer exists.")
    return tenant


def _sign_in_finish(
    actor: User,
    organization: Organization,
    config: GraphConfig,
    pending: dict,
    params: dict[str, str],
    store: graph.MemoryTokenStore,
) -> SignIn:
    """Read Microsoft's redirect: the delegated sign-in's tokens go into `store`."""
    try:
        if pending["mode"] != Tenant.DELEGATED:
            return SignIn(tenant_id=_consented_tenant(params))
        claims, serialized = auth_code_flow_finish(
            config, flow=pending["flow"], params=params, tenant=pending["authority"]
        )
    except ConnectError as exc:
        code = exc.code or "sign_in_failed"
        _connect_failed(actor, organization, code, exc.message)
        raise ConnectRefused(exc.message, code=code) from None
    store.save(serialized)
    return SignIn(
        tenant_id=str(claims.get("tid") or ""),
        upn=str(claims.get("preferred_username") or ""),
        oid=str(claims.get("oid") or ""),
    )


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


def _check_reauthorized_tenant(reauthorize: Tenant | None, tenant_id: str) -> None:
    if reauthorize is None or tenant_id.lower() == reauthorize.microsoft_tenant_id.lower():
        return
    raise ConnectRefused(
        f"You signed in to another Microsoft 365 tenant ({tenant_id}) than the one "
        f"being re-authorized ({reauthorize.microsoft_tenant_id}). Sign in with an "
        "admin account of that tenant.",
        code="wrong_tenant",
    )


def _tenant_confirm(
    actor: User, organization: Organization, client: graph.GraphClient, tenant_id: str
) -> TenantInfo:
    """The tenant as Graph describes it, if it is the one that consented and Stratus
    can manage it. Never trust the tenant id of a redirect: Graph is asked, with a
    token of that tenant."""
    try:
        info = tenant_info_read(client=client)
    except graph.GraphError as exc:
        message = f"Stratus could not read the Microsoft 365 tenant: {exc}"
        _connect_failed(actor, organization, exc.code or "graph_error", message)
        raise ConnectRefused(message, code="graph_error") from None
    if info.id.lower() != tenant_id.lower():
        raise ConnectRefused(
            "Microsoft returned a different tenant than the one that "
            "consented. Nothing was connected.",
            code="tenant_mismatch",
        )
    if info.partner_federation:
        domain, partner = info.partner_federation
        message = PARTNER_FEDERATED.format(domain=domain, partner=partner)
        _connect_failed(
            actor,
            organization,
            "partner_federated",
            message,
            tenant_id=tenant_id,
            tenant_label=info.display_name,
        )
        raise ConnectRefused(message, code="partner_federated")
    return info


# --- storing ----------------------------------------------------------------------------------


@transaction.atomic
def _tenant_store(
    *,
    actor: User,
    organization: Organization,
    reauthorize: Tenant | None,
    info: TenantInfo,
    grant: Grant,
) -> Tenant:
    tenant = _tenant_row(organization, reauthorize, info.id.lower())
    _check_domains_free(tenant, info.domain_names)
    reconnect = bool(tenant.pk) and tenant.status == Tenant.DEAUTHORIZED
    _grant_apply(tenant, actor=actor, info=info, grant=grant, first=reauthorize is None)
    try:
        with transaction.atomic():
            tenant.save()
            tenant_domains_replace(tenant=tenant, domains=info.domains)
    except IntegrityError:  # another admin connected it at the same moment
        raise Conflict(TENANT_TAKEN, code="tenant_taken") from None
    if reauthorize is not None:  # the work held while tokens did not work goes out now
        sync_after_commit(tenant_id=tenant.pk)
    tenant_event(
        tenant=tenant,
        type="tenant_reauthorize" if reauthorize else "tenant_connect",
        actor=actor,
        details={
            "mode": grant.mode,
            "microsoft_tenant_id": tenant.microsoft_tenant_id,
            "domains": info.domain_names,
            "authorized_by": grant.upn,
            "reconnected": reconnect,
        },
    )
    return tenant


def _tenant_row(organization: Organization, reauthorize: Tenant | None, tenant_id: str) -> Tenant:
    """The row to store the tenant in, locked: the one being re-authorized, else this
    organization's earlier row for it, else a new one. A tenant that is connected
    already (here or in another organization) is refused."""
    if reauthorize is not None:
        return Tenant.objects.select_for_update().get(pk=reauthorize.pk)
    existing = (
        Tenant.objects.select_for_update()
        .filter(microsoft_tenant_id=tenant_id, status__in=Tenant.ACTIVE_STATUSES)
        .first()
    )
    if existing is not None:
        same_org = existing.organization_id == organization.pk
        raise Conflict(TENANT_TAKEN_HERE if same_org else TENANT_TAKEN, code="tenant_taken")
    earlier = Tenant.objects.for_organization(organization).filter(microsoft_tenant_id=tenant_id)
    return earlier.first() or Tenant(organization=organization, microsoft_tenant_id=tenant_id)


def _check_domains_free(tenant: Tenant, names: list[str]) -> None:
    taken = TenantDomain.objects.filter(active=True, name__in=names)
    if tenant.pk:
        taken = taken.exclude(tenant=tenant)
    taken_names = sorted(taken.values_list("name", flat=True))
    if taken_names:
        raise Conflict(DOMAIN_TAKEN.format(domains=", ".join(taken_names)), code="domain_taken")


def _grant_apply(
    tenant: Tenant, *, actor: User, info: TenantInfo, grant: Grant, first: bool
) -> None:
    now = timezone.now()
    tenant.mode = grant.mode
    tenant.status = Tenant.CONNECTED
    tenant.display_name = info.display_name
    tenant.initial_domain = info.initial_domain
    tenant.connected_by = actor
    tenant.authorized_by_upn, tenant.authorized_by_oid = grant.upn, grant.oid
    tenant.granted_permissions, tenant.directory_roles = grant.permissions, grant.roles
    tenant.permissions_checked_at = tenant.domains_refreshed_at = now
    tenant.token_cache_encrypted = (
        encryption.encrypt(grant.token_cache) if grant.token_cache else ""
    )
    tenant.last_error, tenant.last_error_at = "", None
    tenant.deauthorized_at = None
    if first:
        tenant.connected_at = now


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
