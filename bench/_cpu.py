"""CPU seconds spent by each part of a benchmark's stack, read from /proc: the Celery
workers, graphsim, the PostgreSQL backends serving the bench database, and Redis.

Wall-clock figures move with whatever else the machine runs; CPU seconds per user
written barely do, so they are the figure to compare between runs on a loaded machine.

    meter = CpuMeter(stack)
    meter.sample()          # at the start, then now and then (backends come and go)
    ...
    meter.sample()
    print(meter.report(writes=5000))

Linux only (/proc/<pid>/stat); elsewhere every figure is 0.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process so far (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the command: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CpuMeter:
    """CPU used by each part since the first `sample()`, per process, summed per part."""

    PARTS = ("workers", "graphsim", "postgres", "redis")

    def __init__(self, stack, *, exclude_backends: tuple[int, ...] = ()):
        self.stack = stack
        self.exclude_backends = set(exclude_backends)
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.started = False
        self._pg = None

    def _backends(self) -> list[int]:
        """PostgreSQL backends connected to the bench database (not this process's)."""
        import psycopg2

        if self._pg is None:
            url = urlparse(self.stack.database_url)
            self._pg = psycopg2.connect(
                host=url.hostname or "127.0.0.1",
                port=url.port or 5432,
                user=url.username or "postgres",
                password=url.password or None,
                dbname="postgres",
            )
            self._pg.autocommit = True
        name = urlparse(self.stack.database_url).path.lstrip("/")
        with self._pg.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name])
            return [pid for (pid,) in cursor.fetchall() if pid not in self.exclude_backends]

    def _pids(self) -> list[tuple[str, int]]:
        pids = [("workers", w.pid) for w in self.stack.workers if w.pid]
        pids.append(("graphsim", self.stack.sim.process.pid))
        if self.stack.redis.managed is not None and self.stack.redis.managed.pid:
            pids.append(("redis", self.stack.redis.managed.pid))
        pids += [("postgres", pid) for pid in self._backends()]
        return pids

    def sample(self) -> None:
        for key in self._pids():
            seconds = cpu_seconds(key[1])
            if seconds is None:
                continue
            # A process first seen mid-run (a new backend) started during it: all its
            # CPU counts.
            self.first.setdefault(key, 0.0 if self.started else seconds)
            self.last[key] = seconds
        self.started = True

    def used(self) -> dict[str, float]:
        totals = dict.fromkeys(self.PARTS, 0.0)
        for key, seconds in self.last.items():
            totals[key[0]] += seconds - self.first.get(key, seconds)
        return totals

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
            self._pg = None

    def report(self, *, writes: int, extra: dict[str, float] | None = None) -> str:
        """A table: CPU seconds and milliseconds per write, per part and in total."""
        used = {**self.used(), **(extra or {})}
        total = sum(used.values())
        lines = [f"{'CPU':24} {'seconds':>8} {'ms/write':>9}"]
        for part, seconds in [*used.items(), ("total", total)]:
            per_write = seconds * 1000 / writes if writes else float("nan")
            lines.append(f"{part:24} {seconds:8.2f} {per_write:9.2f}")
        return "\n".join(lines)
