"""The stack the provisioning benchmarks run on, built and torn down in one `with`:

    with BenchStack(users=5000, workers=2, throttling=True, time_scale=4,
                    latency_ms=80) as stack:
        stack.org, stack.owner, stack.users, stack.tenant, stack.sim, stack.ms_tenant_id

- a private `redis-server` on a free port (broker and shared write budget);
- graphsim over HTTPS on a free port, with Stratus's app registered in it;
- a dedicated PostgreSQL database, dropped and migrated afresh (its name must contain
  "bench"; default `stratus_bench_m365`, so that it never collides with the console
  benchmark's `stratus_bench` if both run at once; DATABASE_URL overrides it);
- an organization with N active users in a domain verified in a graphsim tenant that is
  connected to it (application mode, after real admin consent);
- real `celery -A config worker` processes, started last, after the faults are set.

Everything is stopped on exit, including on Ctrl-C.
"""

from __future__ import annotations

import math
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/stratus_bench_m365"

from tests.support.processes import ProcessSet, stratus_env, wait_for  # noqa: E402

# Microsoft's documented write quota per application and tenant (graph-facts §5.2).
WRITE_QUOTA = 3000
WRITE_QUOTA_WINDOW = 150.0


def recreate_database(url: str) -> None:
    import psycopg2

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"Refusing to drop {name!r}: the benchmark database's name must contain 'bench'.")
    admin = psycopg2.connect(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password or None,
        dbname="postgres",
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


class BenchStack:
    def __init__(
        self,
        *,
        users: int,
        workers: int = 2,
        throttling: bool = False,
        time_scale: float = 1.0,
        latency_ms: float = 0,
        jitter_ms: float = 0,
        worker_env: dict | None = None,
        quiet: bool = False,
    ):
        self.user_count = users
        self.worker_count = workers
        self.throttling = throttling
        self.time_scale = time_scale
        self.latency_ms = latency_ms
        self.jitter_ms = jitter_ms
        self.worker_env = worker_env or {}
        self.quiet = quiet
        self._exit = ExitStack()
        self.workers: list = []

    def say(self, message: str) -> None:
        if not self.quiet:
            print(f"[stack] {message}", file=sys.stderr, flush=True)

    # --- up ------------------------------------------------------------------------------
    def __enter__(self) -> BenchStack:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.say("stopping workers, graphsim and redis")
        self._exit.close()

    def _start(self) -> None:
        from graphsim.testing import running_graphsim

        self.procs = self._exit.enter_context(ProcessSet())
        self.redis = self.procs.redis()
        self.sim = self._exit.enter_context(running_graphsim())
        self.say(f"redis on {self.redis.port}, graphsim at {self.sim.base_url}")
        self.database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
        os.environ["DATABASE_URL"] = self.database_url
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
        # Emails (password changed, ...) stay in memory, not in the dev mail folder.
        os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
        self.app = self._register_app()
        self.env = stratus_env(
            database_url=self.database_url,
            redis_url=self.redis.url(),
            sim=self.sim,
            app=self.app,
            **self.worker_env,
        )
        for key in (
            "REDIS_URL",
            "CELERY_BROKER_URL",
            "M365_LOGIN_URL",
            "M365_GRAPH_URL",
            "M365_CA_BUNDLE",
            "M365_CLIENT_ID",
            "M365_CLIENT_SECRET",
            "FIELD_ENCRYPTION_KEYS",
            *self.worker_env,
        ):
            if key in self.env:
                os.environ[key] = self.env[key]
        os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)
        self.say(f"database {urlparse(self.database_url).path.lstrip('/')}: drop, create, migrate")
        recreate_database(self.database_url)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self._seed()
        if self.latency_ms or self.jitter_ms:
            self.sim.control.set_faults(
                self.ms_tenant_id, latency_ms=self.latency_ms, jitter_ms=self.jitter_ms
            )
        self.say(f"starting {self.worker_count} worker(s)")
        for _ in range(self.worker_count):
            self.workers.append(self.procs.worker(self.env))

    def _register_app(self) -> dict:
        # Before django.setup(): the settings read the app's id and secret from the env.
        from m365bridge.capabilities import APPLICATION_PERMISSIONS
        from m365bridge.graph.auth import DELEGATED_SCOPES
        from tests.m365bridge.conftest import REDIRECT_URI

        return self.sim.control.register_app(
            display_name="Stratus",
            redirect_uris=[REDIRECT_URI],
            secret=f"bench-secret-{os.urandom(8).hex()}",
            application_permissions=APPLICATION_PERMISSIONS,
            delegated_permissions=DELEGATED_SCOPES,
        )

    def _seed(self) -> None:
        from directory import services
        from directory.models import User
        from tests.support.tenants import connect_graphsim_tenant, seed_users, unique_domain

        self.org, _ = services.organization_signup(
            name="Bench Corp",
            email="owner@bench-corp.example",
            password="Bench-Passw0rd-42",
            first_name="Owen",
            last_name="Owner",
        )
        self.owner = User.objects.get(email="owner@bench-corp.example")
        self.domain = unique_domain("bench")
        self.say(f"connecting a graphsim tenant ({self.domain}), seeding {self.user_count} users")
        connected = connect_graphsim_tenant(
            sim=self.sim,
            app=self.app,
            organization=self.org,
            actor=self.owner,
            domain=self.domain,
            throttling=self.throttling,
            time_scale=self.time_scale,
            display_name="Bench Tenant",
        )
        self.tenant, self.ms_tenant_id = connected.tenant, connected.microsoft_id
        self.users = seed_users(organization=self.org, domain=self.domain, count=self.user_count)

    # --- helpers for the benches ---------------------------------------------------------
    def celery(self):
        """This process's Celery app on the private broker (for services' after-commit
        sends)."""
        from config.celery import app

        return app

    def graph_requests(self, tenant_id: str | None = None, *, since: int = 0) -> list[dict]:
        """graphsim's request log of a tenant (every page), oldest first."""
        tenant_id = tenant_id or self.ms_tenant_id
        rows: list[dict] = []
        while True:
            page = self.sim.control.request_log(tenant_id, since=since, limit=1000)
            if not page:
                return rows
            rows.extend(page)
            since = page[-1]["id"]

    def wait(self, condition, *, timeout: float, what: str, describe=None, interval=0.25):
        return wait_for(
            condition,
            timeout=timeout,
            what=what,
            interval=interval,
            describe=describe or (lambda: self.procs.logs(15)),
        )


def bench_database_url(name: str) -> str:
    """The database an in-process bench recreates: BENCH_DATABASE_URL, else
    `stratus_bench_<name>` on the local PostgreSQL (its name must contain "bench")."""
    return os.environ.get(
        "BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/stratus_bench_{name}"
    )


def bench_organization():
    """The organization an in-process bench works in, and its owner (signed up)."""
    from directory import services

    return services.organization_signup(
        name="Bench",
        email="owner@owner-bench.example",
        password="Bench-Owner-Passw0rd!",
        first_name="Owner",
        last_name="Bench",
    )


def django_in_process(*, database_url: str, env: dict | None = None) -> None:
    """Recreate the bench database and set Django up in this process on it, migrated,
    with no Redis (in-process benches) and `env` on top."""
    recreate_database(database_url)
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "REDIS_URL": "",
            **(env or {}),
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def django_against_graphsim(*, database_url: str, sim, app) -> None:
    """`django_in_process`, pointed at graphsim with Stratus's app registration there."""
    django_in_process(
        database_url=database_url,
        env={
            "M365_CLIENT_ID": app["clientId"],
            "M365_CLIENT_SECRET": app["secret"],
            "M365_LOGIN_URL": sim.base_url,
            "M365_GRAPH_URL": sim.base_url,
            "M365_CA_BUNDLE": sim.ca_path,
        },
    )


def burst_floor_seconds(writes: int, time_scale: float) -> float:
    """The least time the write quota allows for `writes` when a client may burst: a
    full window at once, the next as soon as the first has passed (the sliding-window
    reading: never more than 3,000 in any 150 s)."""
    return (math.ceil(writes / WRITE_QUOTA) - 1) * WRITE_QUOTA_WINDOW / time_scale


def quota_bound_seconds(writes: int, time_scale: float) -> float:
    """The least time the documented quota (3,000 writes per 150 s per app and tenant)
    allows for `writes`, read as the sustained rate it grants, time-scaled."""
    return writes * WRITE_QUOTA_WINDOW / WRITE_QUOTA / time_scale


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def elapsed(since: float) -> float:
    return time.monotonic() - since
