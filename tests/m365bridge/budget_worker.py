"""One "worker process" for the shared write budget test: it builds its own Graph client
(its own MSAL app and token cache, its own session) and PATCHes users as fast as its
budget allows. Run with multiprocessing's spawn, so nothing is shared but Redis."""

from m365bridge.graph import AppOnlyTokens, GraphClient, GraphConfig, MemoryTokenStore, WriteBudget


def patch_users(
    config_kwargs: dict,
    tenant_id: str,
    user_ids: list[str],
    redis_url: str,
    rate: float,
    capacity: int,
    label: str,
) -> int:
    config = GraphConfig(**config_kwargs)
    tokens = AppOnlyTokens(config=config, tenant_id=tenant_id, store=MemoryTokenStore())
    budget = WriteBudget(tenant_id=tenant_id, redis_url=redis_url, rate=rate, capacity=capacity)
    client = GraphClient(config=config, tokens=tokens, budget=budget)
    tokens.token()  # sign in before the clock matters
    for user_id in user_ids:
        client.patch(f"users/{user_id}", {"jobTitle": f"Written by {label}"})
    return len(user_ids)
