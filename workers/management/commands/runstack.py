"""`manage.py runstack`: the whole development stack in one terminal.

Starts graphsim (the emulated Microsoft 365) and prepares its demo tenant, seeds the
demo organization, then runs the web server, a Celery worker and the Celery scheduler
as child processes configured for graphsim, prefixing each line of their output with
its name. Ctrl-C (or any child exiting) stops them all: each child's main process is
asked to stop (SIGTERM; Celery's warm shutdown ends its own pool) and waited for.

Unless BASE_URL is set, Stratus's URL (emailed links, Microsoft's redirect URI) follows
the port served here (`--port`, default RUN_PORT or 8000)."""

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from directory.management.commands.seed_demo import DEMO_OWNER, DEMO_PASSWORD
from m365bridge.management.commands.m365_graphsim_demo import demo_prepare

GRAPHSIM_PORT = int(os.environ.get("GRAPHSIM_PORT", "8443"))
STOP_SECONDS = 20  # Celery's warm shutdown lets running tasks finish first


class Command(BaseCommand):
    help = "Run web, worker and scheduler for development (used by `make run`)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("RUN_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("RUN_PORT", "8000")))

    def handle(self, *args, host, port, **options):
        for folder in ("broker", "broker-processed", "broker-control", "mail"):
            (settings.VAR_DIR / folder).mkdir(parents=True, exist_ok=True)
        call_command("seed_demo")
        # Explicit handlers: a shell that starts us in the background ignores SIGINT.
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
        base_url = os.environ.get("BASE_URL") or f"http://{_url_host(host)}:{port}"
        stack = Stack(env={**os.environ, "BASE_URL": base_url}, cwd=str(settings.BASE_DIR))
        try:
            self._start(stack, host=host, port=port, base_url=base_url)
        except KeyboardInterrupt:  # Ctrl-C while starting: stop what started, quietly
            stack.stop_all()
            return
        except Exception:
            stack.stop_all()
            raise
        stack.run()

    def _start(self, stack: "Stack", *, host: str, port: int, base_url: str) -> None:
        python = sys.executable
        graphsim_dir = settings.VAR_DIR / "graphsim"
        graphsim = f"https://127.0.0.1:{GRAPHSIM_PORT}"
        stack.start(
            "graphsim",
            [
                python,
                "-m",
                "graphsim",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(GRAPHSIM_PORT),
                "--data",
                str(graphsim_dir),
            ],
        )
        ca = str(graphsim_dir / "ca.pem")
        _wait_for_graphsim(graphsim, ca)
        demo = demo_prepare(graphsim=graphsim, ca=ca, base_url=base_url)
        stack.env.update(demo.settings)
        processes = {
            "web": [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-l",
                "INFO",
                "--concurrency",
                "2",
                "-n",
                "worker@%h",
            ],
            "scheduler": [python, "-m", "celery", "-A", "config", "beat", "-l", "INFO"],
        }
        self.stdout.write(
            self.style.SUCCESS(
                f"\nStratus is starting at {base_url}/console/\n"
                f"  Demo console sign-in:      {DEMO_OWNER} / {DEMO_PASSWORD}\n"
                f"  Emulated Microsoft 365:    {graphsim} (graphsim, CA {ca})\n"
                f"  Its administrator sign-in: {demo.admin_upn} / {demo.admin_password}\n"
                f"    (console > Microsoft 365 > Connect, then sign in to Microsoft with it)\n"
                f"  Emails: {settings.EMAIL_FILE_PATH}   Press Ctrl-C to stop everything.\n"
            )
        )
        for name, argv in processes.items():
            stack.start(name, argv)


def _url_host(host: str) -> str:
    """A host a browser can open: a wildcard bind address means this machine."""
    try:
        unspecified = ipaddress.ip_address(host).is_unspecified
    except ValueError:
        unspecified = not host
    return "127.0.0.1" if unspecified else host


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM stops the stack exactly as Ctrl-C does


def _wait_for_graphsim(base: str, ca: str, timeout: float = 30) -> None:
    """Wait for graphsim's port, then check its health once. Only plain sockets are
    opened while it starts: a failed HTTPS attempt can leave its connection open until
    garbage collection, and graphsim's shutdown would wait for it and log an error."""
    address = ("127.0.0.1", int(base.rsplit(":", 1)[1]))
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(address, timeout=1):
                break
        except OSError:
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"graphsim did not answer at {base} within {timeout:.0f} s"
                ) from None
            time.sleep(0.3)
    with requests.Session() as session:
        session.trust_env = False
        session.get(f"{base}/_graphsim/health", verify=ca, timeout=30).raise_for_status()


class Stack:
    """Child processes that live and die together."""

    def __init__(self, *, env: dict, cwd: str):
        self.env, self.cwd = env, cwd
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                for name, child in self.children.items():
                    if child.poll() is not None:
                        print(f"[{name}] exited with {child.returncode}; stopping the stack")
                        self.stopping.set()
                self.stopping.wait(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop_all()

    def start(self, name: str, argv: list[str]) -> None:
        child = subprocess.Popen(
            argv,
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self.children[name] = child
        threading.Thread(target=self._relay, args=(name, child), daemon=True).start()

    @staticmethod
    def _relay(name: str, child: subprocess.Popen) -> None:
        for line in child.stdout:
            sys.stdout.write(f"[{name:9}] {line}")
            sys.stdout.flush()

    def stop_all(self) -> None:
        """Stop the children, the last started first (graphsim, which the others call,
        goes last, once nothing holds a connection to it). Each child's main process is
        asked to stop and waited for: signalling its whole process group would hit
        Celery's pool processes behind the worker's back, which then logs each of them as
        lost ("exited with signal 15")."""
        # A second Ctrl-C must not cut the wait short and leave children behind.
        previous = {
            signum: signal.signal(signum, signal.SIG_IGN)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            for name, child in reversed(self.children.items()):
                self._stop(name, child)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        print("Stopped.")

    @staticmethod
    def _stop(name: str, child: subprocess.Popen) -> None:
        if child.poll() is None:
            child.terminate()
        try:
            child.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            print(f"[{name}] did not stop within {STOP_SECONDS} s; killed")
        _kill_group(child.pid)  # anything it left behind


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
