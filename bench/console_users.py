"""How fast is the console's users list at 100,000 users in one organization?

Seeds one organization in PostgreSQL, first with 1,000 users and then with 100,000,
and times the users list through Django's test client (middleware, session, queries
and template rendering: everything but the network), printing the median and 95th
percentile and the SQL query count of each page.

    .venv/bin/python bench/console_users.py [--runs 30]

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/stratus_bench. The
database is dropped and created afresh, so its name must contain "bench".
Targets: median under 150 ms, and the same query count at both sizes.

Searches are answered from the pg_trgm indexes of migration directory/0003.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stratus_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

TARGET_MEDIAN_MS = 150
SIZES = (1_000, 100_000)
FIRST = [
    "Ada",
    "Ben",
    "Chloe",
    "Dmitri",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kara",
    "Liam",
    "Maya",
    "Nils",
    "Olga",
    "Pablo",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
]
LAST = [
    "Garcia",
    "Smith",
    "Muller",
    "Rossi",
    "Kowalski",
    "Tanaka",
    "Silva",
    "Novak",
    "Jensen",
    "Dubois",
    "Okafor",
    "Ivanova",
    "Larsen",
    "Moreau",
    "Costa",
    "Weber",
    "Nakamura",
    "Fischer",
    "Horvat",
    "Lindqvist",
]
PAGES = [
    ("first page", {}),
    ("search by name", {"q": "garcia"}),
    ("search for one email", {"q": "u0098765@"}),
    ("filtered: staged members", {"status": "staged", "role": "member"}),
    ("page 10", {"page": "10"}),
]


def recreate_database(url: str) -> None:
    import psycopg2

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"Refusing to drop {name!r}: the benchmark database's name must contain 'bench'.")
    admin = psycopg2.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname="postgres",
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def seed(organization, start: int, stop: int, password_hash: str) -> None:
    """Users start..stop-1: mostly active members, some staged or suspended."""
    from directory.models import User

    def user(n):
        first, last = FIRST[n % len(FIRST)], LAST[(n // len(FIRST)) % len(LAST)]
        status = User.SUSPENDED if n % 20 == 7 else User.STAGED if n % 10 == 3 else User.ACTIVE
        return User(
            organization=organization,
            email=f"u{n:07d}@bench.example",
            first_name=first,
            last_name=last,
            display_name=f"{first} {last}",
            role=User.ADMIN if n % 500 == 0 else User.MEMBER,
            status=status,
            password=password_hash if status != User.STAGED else "!",
            department=["Sales", "R&D", "Support", "Finance"][n % 4],
        )

    batch = 5_000
    for low in range(start, stop, batch):
        User.objects.bulk_create([user(n) for n in range(low, min(low + batch, stop))])


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:  # what autovacuum would have done by now
        cursor.execute("VACUUM ANALYZE directory_user")


def measure(client, params: dict, runs: int) -> tuple[float, float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        assert client.get("/console/users/", params).status_code == 200
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get("/console/users/", params)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as captured:
        client.get("/console/users/", params)
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    return statistics.median(timings), p95, len(captured)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="timed requests per page")
    args = parser.parse_args()

    recreate_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.test import Client

    from directory import services

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    organization, owner = services.organization_signup(
        name="Bench Corp", email="owner@bench.example", password="Bench-Password-42"
    )
    organization.mfa_required_for_admins = False  # the bench signs in with a password
    organization.save(update_fields=["mfa_required_for_admins"])
    client = Client()
    client.force_login(owner)
    password_hash = make_password("Bench-Password-42")  # one Argon2 hash, shared by all

    results = {}
    seeded = 0
    for size in SIZES:
        started = time.perf_counter()
        seed(organization, seeded, size - 1, password_hash)  # the owner is one of them
        seeded = size - 1
        analyze()
        print(f"\n{size:,} users (seeded in {time.perf_counter() - started:.1f} s)")
        print(f"  {'page':<30} {'median':>9} {'p95':>9} {'queries':>8}")
        for label, params in PAGES:
            median, p95, queries = measure(client, params, args.runs)
            results[(size, label)] = (median, p95, queries)
            print(f"  {label:<30} {median:7.1f}ms {p95:7.1f}ms {queries:8d}")

    print(
        f"\nTarget: median under {TARGET_MEDIAN_MS} ms; the same query count at "
        f"{SIZES[0]:,} and {SIZES[-1]:,} users."
    )
    failed = False
    for label, _ in PAGES:
        small, large = results[(SIZES[0], label)], results[(SIZES[-1], label)]
        ok = large[0] < TARGET_MEDIAN_MS and small[2] == large[2]
        failed |= not ok
        print(
            f"  {'PASS' if ok else 'FAIL'}  {label}: median {large[0]:.1f} ms at "
            f"{SIZES[-1]:,}, queries {small[2]} -> {large[2]}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
