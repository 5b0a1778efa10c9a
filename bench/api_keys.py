"""What checking an API key costs each request: the rate limits (two Redis counters,
the key's and the client address's), and the whole of `directory.keys.api_key_authenticate`
(both counters, the key's lookup and hash check, its creator, and the last-use UPDATE at
most once a minute).

Sets Django up in this process on a fresh PostgreSQL database, makes one organization
and key, then times N calls (default 5,000) of each and prints the mean and p95 per
call next to the target.

    .venv/bin/python bench/api_keys.py [--calls 5000]

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/stratus_bench_api_keys (dropped
and created afresh, so its name must contain "bench"); REDIS_URL to
redis://127.0.0.1:6379/15. Targets: the two counters at most 1 ms a request (p95), the
whole check at most 5 ms (p95), on a 2-core host shared with PostgreSQL and Redis.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stratus_bench_api_keys")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["API_RATE_LIMIT_PER_KEY"] = os.environ["API_RATE_LIMIT_PER_ADDRESS"] = "1000000000"

from bench._stack import percentile, recreate_database  # noqa: E402

TARGET_COUNTERS_MS = 1.0
TARGET_CHECK_MS = 5.0


def _timed(calls: int, function) -> list[float]:
    durations = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        durations.append((time.perf_counter() - start) * 1000)
    return durations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    calls = parser.parse_args().calls
    recreate_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from directory import keys, services
    from directory.models import ApiKey
    from directory.ratelimit import rate_count

    organization, owner = services.organization_signup(
        name="Bench", email="owner@bench.example", password="Bench-Owner-Pw-42"
    )
    _, secret = services.api_key_create(actor=owner, organization=organization, name="bench")
    limit = settings.API_RATE_LIMIT_PER_KEY

    def counters():
        rate_count(scope="address", ident="203.0.113.7", limit=limit, what="your address")
        rate_count(scope="key", ident="1", limit=limit, what="this API key")

    def check():
        keys.api_key_authenticate(secret=secret, use=ApiKey.SCOPE_API, address="203.0.113.7")

    rows = [
        ("rate limits (2 counters)", _timed(calls, counters), TARGET_COUNTERS_MS),
        ("whole key check", _timed(calls, check), TARGET_CHECK_MS),
    ]
    print(f"{calls:,} calls each; counters in {settings.REDIS_URL or 'this process'}")
    print(f"{'':28} {'mean ms':>8} {'p95 ms':>8} {'target p95':>11}")
    failed = False
    for name, durations, target in rows:
        p95 = percentile(durations, 0.95)
        mean = sum(durations) / len(durations)
        verdict = "ok" if p95 <= target else "MISSED"
        failed |= p95 > target
        print(f"{name:28} {mean:8.3f} {p95:8.3f} {'<= ' + str(target):>11}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
