"""`manage.py runstack`: the whole development stack in one terminal.

Starts graphsim (the emulated Microsoft 365) and prepares its demo tenant, seeds the
demo organization, then runs the web server, a Celery worker and the Celery scheduler
as child processes configured for graphsim, prefixing each line of their output with
its name. Ctrl-C (or any child exiting) stops them all."""

import os
import signal
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


class Command(BaseCommand):
    help = "Run web, worker and scheduler for development (used by `make run`)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("RUN_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("RUN_PORT", "8000")))

    def handle(self, *args, host, port, **options):
        for folder in ("broker", "broker-processed", "broker-control", "mail"):
            (settings.VAR_DIR / folder).mkdir(parents=True, exist_ok=True)
        call_command("seed_demo")
        python = sys.executable
        graphsim_dir = settings.VAR_DIR / "graphsim"
        stack = Stack(env={**os.environ}, cwd=str(settings.BASE_DIR))
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
        try:
            _wait_for_graphsim(graphsim, ca)
            demo = demo_prepare(graphsim=graphsim, ca=ca)
        except Exception:
            stack.stop_all()
            raise
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
        url = f"http://{host}:{port}"
        self.stdout.write(
            self.style.SUCCESS(
                f"\nStratus is starting at {url}/console/\n"
                f"  Demo console sign-in:      {DEMO_OWNER} / {DEMO_PASSWORD}\n"
                f"  Emulated Microsoft 365:    {graphsim} (graphsim, CA {ca})\n"
                f"  Its administrator sign-in: {demo.admin_upn} / {demo.admin_password}\n"
                f"    (console > Microsoft 365 > Connect, then sign in to Microsoft with it)\n"
                f"  Emails: {settings.EMAIL_FILE_PATH}   Press Ctrl-C to stop everything.\n"
            )
        )
        for name, argv in processes.items():
            stack.start(name, argv)
        stack.run()


def _wait_for_graphsim(base: str, ca: str, timeout: float = 30) -> None:
    session = requests.Session()
    session.trust_env = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            session.get(f"{base}/_graphsim/health", verify=ca, timeout=1)
            return
        except (requests.RequestException, OSError):
            time.sleep(0.3)
    raise RuntimeError(f"graphsim did not answer at {base} within {timeout:.0f} s")


class Stack:
    """Child processes that live and die together."""

    def __init__(self, *, env: dict, cwd: str):
        self.env, self.cwd = env, cwd
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        try:
            while not self.stopping.is_set():
                for name, child in self.children.items():
                    if child.poll() is not None:
                        print(f"[{name}] exited with {child.returncode}; stopping the stack")
                        self.stopping.set()
                time.sleep(0.5)
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
        for child in self.children.values():
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in self.children.values():
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        print("Stopped.")
