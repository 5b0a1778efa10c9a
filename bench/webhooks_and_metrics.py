"""What do webhooks and metrics cost?

1. The outbox on writes: `user_create` timed in an organization without webhook
   endpoints and in one with two (each event then also takes the organization's
   sequence number and writes two delivery rows in the same transaction).
2. Delivery: events sent by one worker (`endpoint_deliver`, signed, one POST each) to
   a receiver on loopback, per second.
3. A /metrics scrape with the state gauges read at scrape time, at 20 tenants with
   50,000 pending bindings, 2,000 reconcile runs and 5,000 waiting webhook deliveries.

    .venv/bin/python bench/webhooks_and_metrics.py [--writes 300] [--deliveries 1000]

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/stratus_bench_webhooks; the
database is dropped and created afresh, so its name must contain "bench". REDIS_URL
defaults to redis://127.0.0.1:6379/0 (the write budget gauge reads it).
Targets: the outbox adds at most 3 queries per recorded event (the endpoints, the
sequence number, the delivery rows); at least 100 deliveries/s by one worker; a scrape
under 250 ms.
"""

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stratus_bench_webhooks")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from console_users import recreate_database  # noqa: E402

TARGET_OUTBOX_QUERIES = 3
TARGET_DELIVERIES_PER_S = 100
TARGET_SCRAPE_MS = 250
TENANTS, PENDING_BINDINGS, RUNS_PER_TENANT, WAITING_DELIVERIES = 20, 50_000, 100, 5_000


def receiver() -> tuple[ThreadingHTTPServer, list]:
    got = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, got


def queries_of_one_write(organization, owner, email: str) -> tuple[int, int]:
    """(queries, events recorded) of one user_create."""
    from django.db import connection

    from audit.models import Event
    from directory import services

    before = Event.objects.count()
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        services.user_create(actor=owner, organization=organization, email=email)
    return len(queries), Event.objects.count() - before


def time_writes(organization, owner, count: int, prefix: str) -> float:
    from directory import services

    timings = []
    for n in range(count):
        started = time.perf_counter()
        services.user_create(
            actor=owner, organization=organization, email=f"{prefix}{n}@bench.example"
        )
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def seed_state(organization) -> None:
    """Pending bindings, finished reconcile runs and waiting deliveries, in bulk."""
    from django.utils import timezone

    from directory.models import User
    from m365bridge.models import SyncRun, Tenant, UserBinding
    from webhooks.models import Delivery, Endpoint

    now = timezone.now()
    tenants = Tenant.objects.bulk_create(
        Tenant(
            organization=organization,
            microsoft_tenant_id=str(uuid.uuid4()),
            display_name=f"T{n}",
            mode=Tenant.APPLICATION,
            status=Tenant.CONNECTED,
        )
        for n in range(TENANTS)
    )
    users = User.objects.bulk_create(
        (
            User(organization=organization, email=f"b{n}@bench.example", password="!")
            for n in range(PENDING_BINDINGS)
        ),
        batch_size=5000,
    )
    UserBinding.objects.bulk_create(
        (
            UserBinding(
                organization=organization,
                tenant=tenants[n % TENANTS],
                user=user,
                user_ref=user.pk,
                user_label=user.email,
                dirty_since=now - timedelta(seconds=n % 900),
            )
            for n, user in enumerate(users)
        ),
        batch_size=5000,
    )
    SyncRun.objects.bulk_create(
        SyncRun(
            organization=organization,
            tenant=tenant,
            outcome=SyncRun.SUCCEEDED,
            started_at=now - timedelta(minutes=10 * k + 1),
            ended_at=now - timedelta(minutes=10 * k),
            corrected=k % 3,
        )
        for tenant in tenants
        for k in range(RUNS_PER_TENANT)
    )
    endpoint = Endpoint.objects.filter(organization=organization).first()
    Delivery.objects.bulk_create(
        (
            Delivery(endpoint=endpoint, sequence=10**6 + n, event_id=f"evt_b{n}", body="{}")
            for n in range(WAITING_DELIVERIES)
        ),
        batch_size=5000,
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=300, help="timed user creations each")
    parser.add_argument("--deliveries", type=int, default=1000, help="events delivered")
    args = parser.parse_args()

    recreate_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from directory import services
    from webhooks import services as webhooks

    settings.ALLOWED_HOSTS = ["*"]
    settings.METRICS_TOKEN = "bench-token"
    call_command("migrate", verbosity=0)
    plain, plain_owner = services.organization_signup(
        name="No webhooks", email="owner@plain.bench.example", password="Bench-Password-42"
    )
    hooked, hooked_owner = services.organization_signup(
        name="Two webhooks", email="owner@hooked.bench.example", password="Bench-Password-42"
    )
    server, got = receiver()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    endpoint, _ = webhooks.endpoint_create(actor=hooked_owner, organization=hooked, url=url)
    webhooks.endpoint_create(actor=hooked_owner, organization=hooked, url=url + "2")

    time_writes(plain, plain_owner, 20, "warm")  # warm caches and connections
    without = time_writes(plain, plain_owner, args.writes, "p")
    with_hooks = time_writes(hooked, hooked_owner, args.writes, "h")
    plain_queries, events = queries_of_one_write(plain, plain_owner, "q@plain.bench.example")
    hooked_queries, _ = queries_of_one_write(hooked, hooked_owner, "q@hooked.bench.example")
    per_event = (hooked_queries - plain_queries) / events
    print(f"\n1. user_create ({events} events recorded), median of {args.writes}")
    print(f"  without endpoints {without:7.2f} ms {plain_queries:3d} queries")
    print(f"  with two          {with_hooks:7.2f} ms {hooked_queries:3d} queries")
    print(f"  the outbox: +{with_hooks - without:.2f} ms, +{per_event:.1f} queries per event")

    more = max(0, args.deliveries - endpoint.deliveries.count())
    time_writes(hooked, hooked_owner, more, "d")
    queued = endpoint.deliveries.filter(state="pending").count()
    started = time.perf_counter()
    while endpoint.deliveries.filter(state="pending").exists():
        webhooks.endpoint_deliver(endpoint_id=endpoint.pk)
    seconds = time.perf_counter() - started
    rate = queued / seconds
    print(f"\n2. {queued:,} deliveries by one worker in {seconds:.2f} s: {rate:,.0f} /s")

    seed_state(hooked)
    client = Client()
    auth = {"HTTP_AUTHORIZATION": "Bearer bench-token"}
    for _ in range(3):
        assert client.get("/metrics", **auth).status_code == 200
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        client.get("/metrics", **auth)
        timings.append((time.perf_counter() - started) * 1000)
    scrape = statistics.median(timings)
    print(
        f"\n3. /metrics at {TENANTS} tenants, {PENDING_BINDINGS:,} pending bindings, "
        f"{TENANTS * RUNS_PER_TENANT:,} runs, {WAITING_DELIVERIES:,} waiting deliveries: "
        f"median {scrape:.1f} ms, max {max(timings):.1f} ms"
    )

    checks = [
        (
            per_event <= TARGET_OUTBOX_QUERIES,
            f"outbox +{per_event:.1f} queries per event <= {TARGET_OUTBOX_QUERIES}",
        ),
        (rate >= TARGET_DELIVERIES_PER_S, f"{rate:,.0f} deliveries/s >= {TARGET_DELIVERIES_PER_S}"),
        (scrape < TARGET_SCRAPE_MS, f"scrape {scrape:.1f} ms < {TARGET_SCRAPE_MS} ms"),
    ]
    print("\nTargets:")
    for ok, text in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    server.shutdown()
    return 0 if all(ok for ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
