"""The one place that builds a tenant's Graph client: where Microsoft is (settings), the
tenant's tokens (its MSAL cache, kept encrypted on the tenant row), and the write and
resource-unit budgets that every worker shares for that tenant."""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings

from directory import encryption

from ..models import Tenant, TenantMirror
from .auth import AppOnlyTokens, DelegatedTokens, TokenSource, TokenStore
from .budget import WriteBudget, write_limits
from .client import GraphClient
from .config import GraphConfig
from .reads import ReadBudget, tenant_size
from .transport import tenant_session

MAX_BUDGET_WAIT = 120.0  # seconds a writer waits for the budget before scheduling instead


def graph_config() -> GraphConfig:
    return GraphConfig.from_settings()


class TenantTokenStore:
    """The tenant row's encrypted MSAL cache, read and written as one column."""

    def __init__(self, tenant: Tenant):
        self.tenant = tenant

    def load(self) -> str:
        value = self.tenant.token_cache_encrypted
        return encryption.decrypt(value) if value else ""

    def save(self, serialized: str) -> None:
        value = encryption.encrypt(serialized) if serialized else ""
        self.tenant.token_cache_encrypted = value
        Tenant.objects.filter(pk=self.tenant.pk).update(token_cache_encrypted=value)


def token_source(
    *, config: GraphConfig, mode: str, tenant_id: str, store: TokenStore, session=None
) -> TokenSource:
    """MSAL tokens of one tenant: the signed-in admin's (delegated) or the app's own."""
    source = DelegatedTokens if mode == Tenant.DELEGATED else AppOnlyTokens
    return source(config=config, tenant_id=tenant_id, store=store, session=session)


def fitted(config: GraphConfig, within: float) -> GraphConfig:
    """`config` with time-outs and pauses cut so that no gap between two requests of a
    client (one request, one pause, one budget wait and one token refresh: 0.2 of
    `within` each) can last `within` seconds: the sync engine's lease then provably
    outlasts its slowest send."""
    return replace(
        config,
        connect_timeout=min(config.connect_timeout, 0.05 * within),
        read_timeout=min(config.read_timeout, 0.15 * within),
        max_retry_wait=min(config.max_retry_wait, 0.2 * within),
    )


def tenant_graph(
    *,
    tenant: Tenant,
    budget: bool = True,
    within: float | None = None,
    max_retries: int | None = None,
) -> GraphClient:
    """The Graph client of one tenant: its own tokens, the shared resource-unit budget
    and, for writers, the shared write budget (readers pass `budget=False`). With
    `within`, no gap between two of its requests lasts that long (`fitted`; a budget
    waits at most 0.2 of it). With `max_retries`, busy answers are retried at most that
    often (0: a background read that simply tries again at its next turn)."""
    config = graph_config()
    if within is not None:
        config = fitted(config, within)
    if max_retries is not None:
        config = replace(config, max_retries=max_retries)
    session = tenant_session(config, tenant.microsoft_tenant_id)
    tokens = token_source(
        config=config,
        mode=tenant.mode,
        tenant_id=tenant.microsoft_tenant_id,
        store=TenantTokenStore(tenant),
        session=session,
    )
    max_wait = min(MAX_BUDGET_WAIT, 0.2 * within) if within else MAX_BUDGET_WAIT
    read_budget = ReadBudget(
        tenant_id=tenant.microsoft_tenant_id,
        app_id=config.client_id,
        redis_url=settings.REDIS_URL,
        size=tenant_size(known_users(tenant)),
        time_scale=settings.M365_GRAPH_TIME_SCALE,
        max_wait=max_wait,
    )
    write_budget = (
        WriteBudget(
            tenant_id=tenant.microsoft_tenant_id,
            app_id=config.client_id,
            redis_url=settings.REDIS_URL,
            time_scale=settings.M365_GRAPH_TIME_SCALE,
            limits=write_limits(app_writes=settings.M365_APP_WRITE_QUOTA),
            max_wait=max_wait,
        )
        if budget
        else None
    )
    return GraphClient(
        config=config,
        tokens=tokens,
        budget=write_budget,
        read_budget=read_budget,
        session=session,
    )


def known_users(tenant: Tenant) -> int | None:
    """How many users the tenant's mirror last read in full (None: never read)."""
    return (
        TenantMirror.objects.filter(tenant=tenant, filled_at__isnull=False)
        .values_list("read", flat=True)
        .first()
    )
