"""`make run`'s stack (`manage.py runstack`) started for real: it answers on RUN_PORT,
sends Microsoft back to that port, and a Ctrl-C stops every child without an error."""

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.processes import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def stack_env(tmp_path, **extra) -> dict:
    """The environment of a developer's `make run`: SQLite, the folder broker, nothing
    of this test run's PostgreSQL, Redis or settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "M365_", "CELERY_", "BASE_URL", "REDIS_URL"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        STRATUS_VAR_DIR=str(tmp_path / "var"),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


class Output:
    """Every line the stack prints, collected by a thread as it comes."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process):
        for line in process.stdout:
            self.lines.append(line)

    def has(self, pattern: str) -> bool:
        return any(re.search(pattern, line) for line in self.lines)

    def text(self) -> str:
        self._thread.join(timeout=5)
        return "".join(self.lines)


def console_connect_location(base: str) -> str:
    """Sign in to the console as the demo owner and click Connect (application mode)."""
    from directory.management.commands.seed_demo import DEMO_OWNER, DEMO_PASSWORD

    session = requests.Session()
    session.trust_env = False

    def post(path, data):
        page = session.get(base + path, timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        return session.post(
            base + path,
            data={"csrfmiddlewaretoken": token, **data},
            headers={"Referer": base + path},
            allow_redirects=False,
            timeout=10,
        )

    assert post("/console/sign-in/", {"email": DEMO_OWNER, "password": DEMO_PASSWORD}).is_redirect
    return post("/console/m365/connect/", {"mode": "application"}).headers["Location"]


@pytest.fixture
def migrated(tmp_path):
    env = stack_env(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return tmp_path


def test_the_stack_follows_run_port_and_stops_on_ctrl_c_without_an_error(migrated):
    port, graphsim_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runstack"],
        cwd=ROOT,
        env=stack_env(migrated, RUN_PORT=str(port), GRAPHSIM_PORT=str(graphsim_port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job is
    )
    output = Output(process)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: output.has(r"worker@\S+ ready") and output.has(r"beat: Starting"),
            timeout=40,
            what="the worker and the scheduler to start",
            describe=lambda: "".join(output.lines[-15:]),
        )
        location = console_connect_location(base)
        redirect = parse_qs(urlsplit(location).query)["redirect_uri"][0]
        assert redirect == f"{base}/console/m365/callback/"

        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the terminal
        returncode = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    text = output.text()
    assert returncode == 0, text[-3000:]
    assert "Warm shutdown" in text and text.rstrip().endswith("Stopped.")
    assert "ERROR" not in text and "Traceback" not in text, text[-3000:]
    for child_port in (port, graphsim_port):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{child_port}/", timeout=2)


def test_base_url_follows_run_port_unless_it_is_set(tmp_path):
    def base_url(**env):
        result = subprocess.run(
            [sys.executable, "-c", "from config import settings; print(settings.BASE_URL)"],
            cwd=ROOT,
            env=stack_env(tmp_path, **env),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.strip()

    assert base_url(RUN_PORT="18000") == "http://127.0.0.1:18000"
    assert base_url() == "http://127.0.0.1:8000"
    assert base_url(RUN_PORT="18000", BASE_URL="https://stratus.example") == (
        "https://stratus.example"
    )
