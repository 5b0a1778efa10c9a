"""`python -m config.preflight`: stop at once, with a way out, when the services the test
suite needs are not reachable."""

import os
import socket
import sys
from urllib.parse import urlparse

HOW_TO_START = """\
Start them with `docker compose up -d db redis`, or on a Debian machine:
  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"""


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 3
        ):
            return True
    except OSError:
        return False


def main() -> int:
    checks = [
        ("PostgreSQL", os.environ["DATABASE_URL"], 5432),
        ("Redis", os.environ["REDIS_URL"], 6379),
    ]
    down = [(name, url) for name, url, port in checks if not reachable(url, port)]
    for name, url in down:
        print(f"{name} is not reachable at {url}", file=sys.stderr)
    if down:
        print(HOW_TO_START, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
