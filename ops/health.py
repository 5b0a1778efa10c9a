"""/healthz and /readyz for load balancers and orchestrators.

Answered by a middleware placed first, before host validation and the https redirect:
probes come by IP over plain http. They are cheap (no session, no template) and say
nothing an outsider could use: no version, host, or error text, only which check
failed."""

import json
import logging

from django.conf import settings
from django.db import connection
from django.http import HttpResponse

log = logging.getLogger(__name__)
TIMEOUT = 2  # seconds per check


def healthz(request) -> HttpResponse:
    """The process is up and answering."""
    return _json({"status": "ok"}, 200)


def readyz(request) -> HttpResponse:
    """Ready to serve: the database, Redis and the Celery broker answer."""
    probes = {"database": _database, "broker": _broker}
    if settings.REDIS_URL:
        probes["redis"] = lambda: _redis_ping(settings.REDIS_URL)
    checks = {name: _check(name, probe) for name, probe in probes.items()}
    ready = all(result == "ok" for result in checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return _json(body, 200 if ready else 503)


def _check(name: str, probe) -> str:
    try:
        probe()
    except Exception as exc:  # any failure means not ready; the reason goes to the log only
        log.warning("readiness check %s failed: %s", name, type(exc).__name__)
        return "fail"
    return "ok"


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis_ping(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    try:
        client.ping()
    finally:
        client.close()


def _broker() -> None:
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        _redis_ping(url)
        return
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=TIMEOUT)


def _json(body: dict, status: int) -> HttpResponse:
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response
