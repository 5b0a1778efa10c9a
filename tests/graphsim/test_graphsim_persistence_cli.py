"""State survives a restart, and the CLI drives a running server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from graphsim.testing import running_graphsim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_tenants_users_and_tokens_survive_a_restart(tmp_path):
    data = str(tmp_path / "data")
    with running_graphsim(data) as sim:
        tenant = sim.control.create_tenant(domains=["persist.example"], users=5)
        app = sim.control.register_app(display_name="persist")
        sim.control.grant(
            tenant["id"], app["clientId"], application_permissions=["User.ReadWrite.All"]
        )
        token = sim.control.app_token(tenant["id"], app["clientId"], app["secret"])
        session = sim.session()
        headers = {"Authorization": f"Bearer {token}"}
        session.patch(
            sim.graph_url(f"users/{tenant['admins'].popitem()[1]['id']}"),
            json={"jobTitle": "Survivor"},
            headers=headers,
        )
        ca = open(sim.ca_path).read()
    with running_graphsim(data) as sim:
        assert open(sim.ca_path).read() == ca
        users = (
            sim.session()
            .get(sim.graph_url("users?$select=jobTitle"), headers=headers)
            .json()["value"]
        )
        assert len(users) == 6 and {"jobTitle": "Survivor"} in users
        assert sim.control.counters(tenant["id"])["requests"] >= 2


def test_cli_creates_a_tenant_and_reads_counters(sim):
    env = {**os.environ, "PYTHONPATH": ROOT}

    def cli(*args):
        output = subprocess.run(
            [sys.executable, "-m", "graphsim", "--url", sim.base_url, "--ca", sim.ca_path, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        return json.loads(output)

    tenant = cli(
        "tenant",
        "create",
        "--domain",
        "cli.example",
        "--users",
        "25",
        "--sku",
        "SPE_E3:10",
        "--federated-domain",
        "cligd.example",
    )
    assert tenant["users"] == 26 and tenant["skus"][0]["seats"] == 10
    assert any(d["type"] == "Federated" for d in tenant["domains"])
    assert cli("throttling", tenant["id"], "on")["throttling"] is True
    assert cli("time-scale", tenant["id"], "60")["time_scale"] == 60
    assert cli("counters", tenant["id"])["requests"] == 0
    windows = cli("write-windows", tenant["id"])
    assert windows["tenant"] == {"windowSeconds": 5.0, "limit": 18000, "mostWrites": 0}
    assert cli("write-windows", "--app", "no-such-app")["mostWrites"] == 0
    upn = next(iter(tenant["admins"]))
    assert cli("user", "block", tenant["id"], upn) == {"accountEnabled": False}
    assert any(t["id"] == tenant["id"] for t in cli("tenant", "list"))
