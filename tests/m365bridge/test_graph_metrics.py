"""Graph requests are counted by status, and 429s by tenant, from real exchanges with
graphsim over HTTPS; their log lines then carry Microsoft's request id."""

import json
import logging

import pytest
from prometheus_client import REGISTRY

from m365bridge.graph import AppOnlyTokens, GraphClient, MemoryTokenStore
from ops import context
from ops.logs import JsonFormatter

from .conftest import unique_domain


@pytest.fixture(scope="module")
def sim_tenant(graphsim_server, stratus_app):
    created = graphsim_server.control.create_tenant(
        display_name="Metrics", users=3, domains=[unique_domain("metrics")]
    )
    graphsim_server.control.grant(
        created["id"], stratus_app["clientId"], application_permissions=["User.ReadWrite.All"]
    )
    return created["id"]


@pytest.fixture
def graph(config, sim_tenant):
    tokens = AppOnlyTokens(config=config, tenant_id=sim_tenant, store=MemoryTokenStore())
    return GraphClient(config=config, tokens=tokens)


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_graph_requests_are_counted_by_status_and_429s_by_tenant(
    graphsim_server, graph, sim_tenant
):
    ok = sample("stratus_graph_requests_total", method="GET", status="200")
    throttled = sample("stratus_graph_requests_total", method="GET", status="429")
    per_tenant = sample("stratus_graph_throttled_total", tenant=sim_tenant)
    graphsim_server.control.set_faults(sim_tenant, force_429=2, force_429_retry_after=0.2)
    try:
        graph.get("users", params={"$top": "1"})
    finally:
        graphsim_server.control.clear_faults(sim_tenant)
    assert sample("stratus_graph_requests_total", method="GET", status="429") == throttled + 2
    assert sample("stratus_graph_requests_total", method="GET", status="200") == ok + 1
    assert sample("stratus_graph_throttled_total", tenant=sim_tenant) == per_tenant + 2


def test_log_lines_after_a_graph_call_carry_microsofts_request_id(graph):
    context.clear()
    response = graph.request("GET", "users", params={"$top": "1"})
    record = logging.LogRecord("m365", logging.INFO, __file__, 1, "read users", (), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["ms_request_id"] == response.headers["request-id"]
    context.clear()
