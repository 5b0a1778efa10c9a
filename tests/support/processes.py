"""Real processes for reliability tests and benchmarks: a private Redis, Celery workers
and a sweep timer, each in its own process group, always cleaned up.

    with ProcessSet() as procs:
        redis = procs.redis()                       # redis-server on a free port
        env = stratus_env(database_url=..., redis_url=redis.url(), sim=sim, app=app)
        worker = procs.worker(env)                  # celery worker --pool=solo
        worker.kill()                               # SIGKILL, as the OOM killer would
        redis.stop(); redis.start()                 # an outage; same port, empty data
        wait_for(lambda: ..., timeout=60, what="every binding provisioned")

Nothing here stops or touches the machine's shared Redis or PostgreSQL. Every child is
started with `start_new_session=True`, so signalling its process group reaches the
grandchildren too (prefork children, uvicorn), and an `atexit` hook kills whatever a
crashed test left behind.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

_live: set[ManagedProcess] = set()
_live_lock = threading.Lock()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Timeout(AssertionError):
    """A condition a test waited for never came true."""


def wait_for(
    condition: Callable[[], object],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    describe: Callable[[], str] | None = None,
) -> object:
    """Poll `condition` until it returns something truthy; return that value. On time-out
    raise `Timeout` naming `what` and, if given, `describe()` (the state it ended in)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            state = f" — {describe()}" if describe else ""
            raise Timeout(f"timed out after {timeout:.0f} s waiting for {what}{state}")
        time.sleep(interval)


class ManagedProcess:
    """One child process in its own session (process group), with its output in a file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | str = ROOT,
        log_dir: str | None = None,
    ):
        self.name = name
        self.argv = argv
        self.env = dict(env if env is not None else os.environ)
        self.cwd = str(cwd)
        self.log_path = os.path.join(
            log_dir or tempfile.gettempdir(), f"{name}-{uuid.uuid4().hex[:6]}.log"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> ManagedProcess:
        if self.alive:
            raise RuntimeError(f"{self.name} is already running")
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it open
        try:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        with _live_lock:
            _live.add(self)
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group at once: no shutdown handler runs, nothing is acked."""
        self._signal_group(signal.SIGKILL)
        self._reap(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL whatever of the group is still there after `timeout`."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self._signal_group(signal.SIGKILL)  # stragglers of the group (pool children)
        self._reap(timeout=10)

    def _signal_group(self, sig: int) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _reap(self, timeout: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        with _live_lock:
            _live.discard(self)

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""

    def __repr__(self) -> str:
        return f"<{self.name} pid={self.pid} alive={self.alive}>"


def _kill_leftovers() -> None:
    with _live_lock:
        leftovers = list(_live)
    for process in leftovers:
        process.stop(timeout=3)


atexit.register(_kill_leftovers)


class RedisServer:
    """A private, non-persistent redis-server on its own port. `stop()` then `start()`
    is an outage: the same port comes back empty, as a restarted cache would."""

    def __init__(self, *, port: int | None = None, log_dir: str | None = None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="stratus-redis-")
        self.log_dir = log_dir
        self.managed: ManagedProcess | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 10.0) -> RedisServer:
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.dir,
            "--protected-mode",
            "no",
        ]
        self.managed = ManagedProcess(f"redis-{self.port}", argv, log_dir=self.log_dir).start()
        wait_for(
            self.ping,
            timeout=timeout,
            interval=0.05,
            what=f"redis-server on port {self.port}",
            describe=self.managed.log_tail,
        )
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.managed is not None:
            self.managed.stop(timeout=5)

    def kill(self) -> None:
        if self.managed is not None:
            self.managed.kill()

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        if down_for:
            time.sleep(down_for)
        self.start()

    @property
    def alive(self) -> bool:
        return self.managed is not None and self.managed.alive

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# The project's own Celery app, as deployed.
WORKER_APP = "config"
WORKER_SETTINGS = "config.settings"


def celery_argv(*args: str, app: str = WORKER_APP) -> list[str]:
    return [PYTHON, "-m", "celery", "-A", app, *args]


class CeleryWorker(ManagedProcess):
    """`celery -A <project app> worker` in its own process group. Solo pool by default: one task
    at a time per process, so "kill a worker" kills exactly the task it was running."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        index: int = 0,
        pool: str = "solo",
        concurrency: int = 1,
        queues: str | None = None,
        loglevel: str = "INFO",
        log_dir: str | None = None,
    ):
        self.hostname = f"w{index}-{uuid.uuid4().hex[:6]}@localhost"
        argv = celery_argv(
            "worker",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            "-n",
            self.hostname,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--prefetch-multiplier=1",
            f"--loglevel={loglevel}",
        )
        if queues:
            argv += ["-Q", queues]
        super().__init__(f"worker{index}", argv, env=env, log_dir=log_dir)

    def ready(self) -> bool:
        """True once the worker has connected to the broker and is consuming."""
        return self.alive and " ready." in self.log_tail(400)

    def start(self, *, wait: bool = True, timeout: float = 60.0) -> CeleryWorker:
        super().start()
        if wait:
            wait_for(
                lambda: self.ready() or not self.alive,
                timeout=timeout,
                what=f"{self.name} to be ready",
                describe=self.log_tail,
            )
            if not self.alive:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
        return self


class Beat(ManagedProcess):
    """`celery beat` (the project's schedule) with its schedule file in a temporary folder."""

    def __init__(self, env: Mapping[str, str], *, log_dir: str | None = None):
        schedule = os.path.join(tempfile.mkdtemp(prefix="stratus-beat-"), "schedule")
        super().__init__(
            "beat", celery_argv("beat", "-s", schedule, "--loglevel=INFO"), env=env, log_dir=log_dir
        )


class Ticker:
    """Calls `action` every `interval` seconds on a daemon thread until stopped; errors
    (a broker that is down) are counted and ignored, as beat would ignore them."""

    def __init__(self, action: Callable[[], object], interval: float):
        self.action, self.interval = action, interval
        self.runs = self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="ticker")

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.action()
                self.runs += 1
            except Exception:  # noqa: BLE001 - a ticker outlives broker outages
                self.errors += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def stratus_env(
    *,
    database_url: str,
    redis_url: str,
    sim=None,
    app: Mapping | None = None,
    encryption_keys: list[str] | tuple[str, ...] | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment of a Stratus worker: this database, this Redis (broker and write
    budget), Microsoft at graphsim, and the encryption keys of the caller. `extra` sets
    further variables (M365_SYNC_LEASE_SECONDS, M365_GRAPH_TIME_SCALE, ...)."""
    env = dict(os.environ)
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS,
            "STRATUS_ENV": "development",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        }
    )
    if sim is not None:
        env.update(
            {
                "M365_LOGIN_URL": sim.base_url,
                "M365_GRAPH_URL": sim.base_url,
                "M365_CA_BUNDLE": sim.ca_path,
            }
        )
    if app is not None:
        env.update({"M365_CLIENT_ID": app["clientId"], "M365_CLIENT_SECRET": app["secret"]})
    if encryption_keys:
        env["FIELD_ENCRYPTION_KEYS"] = ",".join(encryption_keys)
    env.update({key: str(value) for key, value in extra.items()})
    return env


def database_url(settings_dict: Mapping) -> str:
    """A DATABASE_URL for Django's connection settings (e.g. the pytest test database,
    whose name carries the xdist suffix)."""
    user = settings_dict.get("USER") or ""
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


class ProcessSet:
    """Owns every process of one test or bench run and stops them all on exit, workers
    first (so they do not hold database locks while the test tears down)."""

    def __init__(self):
        self.log_dir = tempfile.mkdtemp(prefix="stratus-procs-")
        self.workers: list[CeleryWorker] = []
        self.others: list[ManagedProcess] = []
        self.redises: list[RedisServer] = []
        self.tickers: list[Ticker] = []

    def __enter__(self) -> ProcessSet:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def redis(self, **kwargs) -> RedisServer:
        server = RedisServer(log_dir=self.log_dir, **kwargs)
        self.redises.append(server)
        return server.start()

    def worker(self, env: Mapping[str, str], *, wait: bool = True, **kwargs) -> CeleryWorker:
        worker = CeleryWorker(env, index=len(self.workers), log_dir=self.log_dir, **kwargs)
        self.workers.append(worker)
        return worker.start(wait=wait)

    def restart(self, worker: CeleryWorker, *, wait: bool = True) -> CeleryWorker:
        """A new process with the same command line (a supervisor restarting it)."""
        worker.stop()
        return worker.start(wait=wait)

    def beat(self, env: Mapping[str, str]) -> Beat:
        beat = Beat(env, log_dir=self.log_dir)
        self.others.append(beat)
        return beat.start()

    def ticker(self, action: Callable[[], object], interval: float) -> Ticker:
        ticker = Ticker(action, interval)
        self.tickers.append(ticker)
        return ticker.start()

    def logs(self, lines: int = 30) -> str:
        parts = []
        for process in [*self.workers, *self.others]:
            parts.append(f"--- {process.name} ({process.log_path}) ---\n{process.log_tail(lines)}")
        return "\n".join(parts)

    def close(self) -> None:
        for ticker in self.tickers:
            ticker.stop()
        for process in [*self.workers, *self.others]:
            process.stop(timeout=5)
        for server in self.redises:
            server.close()
