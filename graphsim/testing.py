"""Run graphsim as a real HTTPS subprocess for tests and benchmarks.

with running_graphsim() as sim:
    tenant = sim.control.create_tenant(domains=["contoso.example"], users=10)
    session = sim.session()          # requests.Session trusting sim.ca_path
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests

from graphsim.certs import ensure_certificates
from graphsim.client import GraphSimControl, make_session

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Sim:
    base_url: str
    ca_path: str
    data_dir: str
    port: int
    control: GraphSimControl
    process: subprocess.Popen

    def session(self) -> requests.Session:
        """A requests.Session (trust_env=False) that trusts graphsim's CA."""
        return make_session(self.ca_path)

    def authority(self, tenant_id: str) -> str:
        return f"{self.base_url}/{tenant_id}"

    def graph_url(self, path: str = "") -> str:
        return f"{self.base_url}/v1.0/{path.lstrip('/')}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_graphsim(
    data_dir: str | None = None,
    *,
    port: int | None = None,
    startup_timeout: float = 30.0,
    quiet: bool = True,
) -> Iterator[Sim]:
    """Start `python -m graphsim serve` on a free port; stop it on exit.

    Without `data_dir` a temporary folder is used and removed afterwards.
    """
    temporary = data_dir is None
    data_dir = data_dir or tempfile.mkdtemp(prefix="graphsim-")
    port = port or free_port()
    paths = ensure_certificates(data_dir)
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_PARENT + os.pathsep + env.get("PYTHONPATH", "")
    output = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "graphsim",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data",
            data_dir,
        ],
        env=env,
        stdout=output,
        stderr=output,
    )
    base_url = f"https://127.0.0.1:{port}"
    control = GraphSimControl(base_url, paths.ca)
    try:
        _wait_until_up(control, process, startup_timeout)
        yield Sim(
            base_url=base_url,
            ca_path=paths.ca,
            data_dir=data_dir,
            port=port,
            control=control,
            process=process,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)


def _wait_until_up(control: GraphSimControl, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"graphsim exited with status {process.returncode}")
        try:
            control.session.get(f"{control.base_url}/_graphsim/health", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError("graphsim did not start in time")
