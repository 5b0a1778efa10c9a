"""One Redis connection pool per URL and process, for the code that shares counters
across processes: the API rate limits (directory.ratelimit) and the Graph write budget
(m365bridge.graph.budget)."""

_clients: dict[str, object] = {}


def redis_client(url: str):
    client = _clients.get(url)
    if client is None:
        import redis

        client = _clients[url] = redis.Redis.from_url(url)
    return client


def redis_errors() -> tuple[type[BaseException], ...]:
    """What an unreachable Redis raises."""
    import redis

    return (redis.ConnectionError, redis.TimeoutError)
