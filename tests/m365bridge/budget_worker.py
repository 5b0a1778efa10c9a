"""One "worker process" for the shared write budget test: it builds its own Graph client
(its own MSAL app and token cache, its own session) and PATCHes users as fast as its
budget allows. Run with multiprocessing's spawn, so nothing is shared but Redis."""

from m365bridge.graph import AppOnlyTokens, GraphClient, GraphConfig, MemoryTokenStore, WriteBudget
from m365bridge.graph.budget import WriteLimit


def patch_users(
    config_kwargs: dict,
    tenant_id: str,
    user_ids: list[str],
    redis_url: str,
    window: tuple[int, float, float],
    label: str,
) -> int:
    """`window`: (writes, seconds, transit allowance) of the one write limit."""
    config = GraphConfig(**config_kwargs)
    tokens = AppOnlyTokens(config=config, tenant_id=tenant_id, store=MemoryTokenStore())
    writes, seconds, transit = window
    budget = WriteBudget(
        tenant_id=tenant_id,
        app_id=config.client_id,
        redis_url=redis_url,
        limits=(WriteLimit("app+tenant", writes, seconds, "test"),),
        transit=transit,
    )
    client = GraphClient(config=config, tokens=tokens, budget=budget)
    tokens.token()  # sign in before the clock matters
    for user_id in user_ids:
        client.patch(f"users/{user_id}", {"jobTitle": f"Written by {label}"})
    return len(user_ids)
