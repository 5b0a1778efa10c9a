"""How fast can an HR system provision users through SCIM, compared with the REST API?

Starts Stratus under gunicorn (2 processes x 4 threads, as on a 2-core host) on a fresh
PostgreSQL database, then creates N users (default 5,000) through `POST /scim/v2/Users`
with 8 concurrent clients, and N more through `POST /api/v1/users` the same way, and
prints throughput (users/s) and latency percentiles side by side. Both paths run the
same directory service (`user_create`, its event and its activation email), so the
difference is the SCIM layer: validating against the published schema, the filterable
SCIM data row, and the SCIM representation with its ETag.

    .venv/bin/python bench/scim.py [--users 5000] [--clients 8]

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/stratus_bench_scim; the
database is dropped and created afresh, so its name must contain "bench".
Targets (relative, since both share one machine with the database and the clients):
SCIM throughput at least 70% of the REST API's, SCIM p95 at most 1.5 times REST's, and
no failed request.
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stratus_bench_scim")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench._stack import recreate_database  # noqa: E402
from tests.support.processes import ManagedProcess, free_port, wait_for  # noqa: E402

TARGET_RATIO = 0.70  # SCIM throughput / REST throughput, at least
TARGET_P95_FACTOR = 1.5  # SCIM p95 / REST p95, at most
PYTHON = str(ROOT / ".venv" / "bin" / "python")
SERVER_ENV = {
    "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
    "CELERY_BROKER_URL": "memory://",
    "DEBUG": "false",
    "LOG_LEVEL": "WARNING",
    # The bench measures provisioning, not the per-key rate limit (600 a minute).
    "API_RATE_LIMIT_PER_KEY": "1000000000",
    "API_RATE_LIMIT_PER_ADDRESS": "1000000000",
}


def seed() -> tuple[str, str]:
    """An organization, its owner, a SCIM key and a REST API key."""
    import django

    django.setup()
    from directory import services
    from directory.models import ApiKey

    organization, owner = services.organization_signup(
        name="Bench", email="owner@bench.example", password="Bench-Owner-Pw-42"
    )
    _, scim_secret = services.api_key_create(
        actor=owner, organization=organization, name="HR", scope=ApiKey.SCOPE_SCIM
    )
    _, api_secret = services.api_key_create(actor=owner, organization=organization, name="API")
    return scim_secret, api_secret


def start_server(port: int) -> ManagedProcess:
    env = {**os.environ, **SERVER_ENV, "PYTHONPATH": str(ROOT)}
    argv = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "config.wsgi",
        "--workers=2",
        "--threads=4",
        f"--bind=127.0.0.1:{port}",
        "--log-level=warning",
    ]
    server = ManagedProcess("bench-scim-web", argv, env=env).start()
    wait_for(lambda: _up(port), timeout=60, what="gunicorn", describe=server.log_tail)
    return server


def _up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/scim/v2/Users", timeout=2).status_code == 401
    except requests.RequestException:
        return False


def scim_body(n: int) -> dict:
    return {
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ],
        "userName": f"scim{n:05}@bench.example",
        "name": {"givenName": f"Given{n}", "familyName": "Scim"},
        "title": "Associate",
        "externalId": f"hr-{n}",
        "active": True,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": f"E{n:05}",
            "department": "R&D",
        },
    }


def rest_body(n: int) -> dict:
    return {
        "email": f"rest{n:05}@bench.example",
        "first_name": f"Given{n}",
        "last_name": "Rest",
        "job_title": "Associate",
        "employee_id": f"E{n:05}",
        "department": "R&D",
    }


def run(url: str, secret: str, body, count: int, clients: int, content_type: str) -> dict:
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    numbers = iter(range(count))

    def client():
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {secret}", "Content-Type": content_type})
        while True:
            with lock:
                n = next(numbers, None)
            if n is None:
                return
            started = time.perf_counter()
            response = session.post(url, json=body(n), timeout=60)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status_code != 201:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "throughput": count / wall,
        "wall": wall,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "max": latencies[-1] * 1000,
        "failures": failures,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    recreate_database(os.environ["DATABASE_URL"])
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True)
    scim_secret, api_secret = seed()
    port = free_port()
    server = start_server(port)
    base = f"http://127.0.0.1:{port}"
    try:
        scim = run(
            f"{base}/scim/v2/Users",
            scim_secret,
            scim_body,
            args.users,
            args.clients,
            "application/scim+json",
        )
        rest = run(
            f"{base}/api/v1/users",
            api_secret,
            rest_body,
            args.users,
            args.clients,
            "application/json",
        )
    finally:
        server.stop()
    return report(scim, rest, args)


def report(scim: dict, rest: dict, args) -> int:
    print(f"Creating {args.users} users with {args.clients} concurrent clients")
    print("(gunicorn 2 x 4 threads, PostgreSQL, on this machine)\n")
    print(f"{'':18}{'SCIM /scim/v2/Users':>22}{'REST /api/v1/users':>22}")
    rows = [
        ("throughput", "users/s", "throughput", "{:.1f}"),
        ("wall time", "s", "wall", "{:.1f}"),
        ("latency p50", "ms", "p50", "{:.0f}"),
        ("latency p95", "ms", "p95", "{:.0f}"),
        ("latency max", "ms", "max", "{:.0f}"),
    ]
    for label, unit, key, fmt in rows:
        left = f"{label} ({unit})"
        print(f"{left:18}{fmt.format(scim[key]):>22}{fmt.format(rest[key]):>22}")
    failures = len(scim["failures"]) + len(rest["failures"])
    print(f"{'failed requests':18}{len(scim['failures']):>22}{len(rest['failures']):>22}")
    ratio = scim["throughput"] / rest["throughput"]
    factor = scim["p95"] / rest["p95"]
    ok = ratio >= TARGET_RATIO and factor <= TARGET_P95_FACTOR and not failures
    print(
        f"\nTarget: SCIM throughput at least {TARGET_RATIO:.0%} of REST's ({ratio:.0%}), "
        f"SCIM p95 at most {TARGET_P95_FACTOR}x REST's ({factor:.2f}x), no failures: "
        f"{'met' if ok else 'NOT met'}"
    )
    for failure in (scim["failures"] + rest["failures"])[:5]:
        print("  failure:", failure)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
