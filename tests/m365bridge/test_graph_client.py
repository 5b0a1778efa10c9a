"""The Graph client against graphsim over HTTPS, with the real MSAL client."""

import logging
import multiprocessing
import os
import time

import pytest

from m365bridge.graph import (
    AppOnlyTokens,
    BadRequest,
    BatchRequest,
    GraphClient,
    MemoryTokenStore,
    NeedsReauthorization,
    NotFound,
    Throttled,
    WriteBudget,
)
from m365bridge.graph.budget import TRANSIT_ALLOWANCE, WriteLimit
from m365bridge.graph.tenant import tenant_graph

from . import budget_worker
from .conftest import unique_domain

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
ROLES = [
    "Organization.Read.All",
    "Domain.Read.All",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
]


@pytest.fixture(scope="module")
def sim_tenant(graphsim_server, stratus_app):
    created = graphsim_server.control.create_tenant(
        display_name="Client", users=40, groups=3, domains=[unique_domain("client")]
    )
    graphsim_server.control.grant(
        created["id"], stratus_app["clientId"], application_permissions=ROLES
    )
    return created["id"]


class Clock:
    """Records the waits the client asks for, then really waits (graphsim keeps time)."""

    def __init__(self):
        self.waits = []

    def __call__(self, seconds):
        self.waits.append(seconds)
        time.sleep(seconds)


def make_client(config, tenant_id, *, budget=None, sleep=time.sleep):
    tokens = AppOnlyTokens(config=config, tenant_id=tenant_id, store=MemoryTokenStore())
    return GraphClient(config=config, tokens=tokens, budget=budget, sleep=sleep)


def log_since(sim, tenant_id, since):
    return sim.control.request_log(tenant_id, since=since, limit=100000)


def last_log_id(sim, tenant_id):
    rows = sim.control.request_log(tenant_id, limit=100000)
    return rows[-1]["id"] if rows else 0


def test_every_request_carries_a_client_request_id_and_errors_carry_microsofts_ids(
    config, sim_tenant
):
    client = make_client(config, sim_tenant)
    with pytest.raises(NotFound) as raised:
        client.get("users/00000000-0000-0000-0000-000000000000")
    assert raised.value.request_id and raised.value.client_request_id
    assert raised.value.code == "Request_ResourceNotFound"


def test_it_honours_retry_after_on_429_and_then_succeeds(graphsim_server, config, sim_tenant):
    graphsim_server.control.set_faults(sim_tenant, force_429=2, force_429_retry_after=0.7)
    clock = Clock()
    client = make_client(config, sim_tenant, sleep=clock)
    started = time.monotonic()
    organization = client.get("organization")
    assert organization["value"][0]["id"] == sim_tenant
    assert len(clock.waits) == 2 and all(0.7 <= w <= 0.7 * 1.1 + 0.05 for w in clock.waits)
    assert time.monotonic() - started >= 1.4
    graphsim_server.control.clear_faults(sim_tenant)


def test_a_retry_after_beyond_the_cap_is_raised_for_the_caller_to_schedule(
    graphsim_server, config, sim_tenant
):
    graphsim_server.control.set_faults(sim_tenant, force_429=1, force_429_retry_after=90)
    client = make_client(config, sim_tenant, sleep=Clock())
    with pytest.raises(Throttled) as raised:
        client.get("organization")
    assert raised.value.retry_after == 90
    graphsim_server.control.clear_faults(sim_tenant)


@pytest.mark.parametrize(
    "path,error",
    [
        ("users/00000000-0000-0000-0000-000000000000", NotFound),
        ("users?$top=1000", BadRequest),
    ],
)
def test_a_400_or_404_is_never_retried(graphsim_server, config, sim_tenant, path, error):
    since = last_log_id(graphsim_server, sim_tenant)
    client = make_client(config, sim_tenant, sleep=Clock())
    with pytest.raises(error):
        client.get(path)
    graph_calls = [
        r for r in log_since(graphsim_server, sim_tenant, since) if r["path"].startswith("/v1.0/")
    ]
    assert len(graph_calls) == 1


def test_paging_follows_next_links_to_the_last_page(config, sim_tenant):
    client = make_client(config, sim_tenant)
    users = list(client.items("users", params={"$top": "7", "$select": "id"}))
    assert len(users) == len({u["id"] for u in users}) >= 40


def test_delta_returns_every_item_and_keeps_the_delta_link(config, sim_tenant):
    client = make_client(config, sim_tenant)
    pages = list(client.pages("users/delta", params={"$select": "id,displayName"}))
    items = [item for page in pages for item in page.items]
    assert len(items) >= 40 and "deltatoken" in pages[-1].delta_link.lower()
    assert not any(page.delta_link for page in pages[:-1])
    again = list(client.pages(pages[-1].delta_link))
    assert [item for page in again for item in page.items] == [] and again[-1].delta_link


def test_a_batch_packs_20_requests_and_returns_a_result_per_request(
    graphsim_server, config, sim_tenant
):
    client = make_client(config, sim_tenant)
    users = list(client.items("users", params={"$select": "id"}))[:25]
    requests_ = [
        BatchRequest(id=str(i), method="GET", url=f"/users/{u['id']}?$select=id")
        for i, u in enumerate(users)
    ]
    requests_.append(
        BatchRequest(id="missing", method="GET", url="/users/00000000-0000-0000-0000-000000000000")
    )
    since = last_log_id(graphsim_server, sim_tenant)
    results = client.batch(requests_)
    assert [r.id for r in results] == [r.id for r in requests_]
    assert all(r.ok for r in results[:-1])
    assert isinstance(results[-1].error, NotFound)
    batches = [r for r in log_since(graphsim_server, sim_tenant, since) if r["note"] == "batch"]
    assert len(batches) == 2  # 26 requests: 20 + 6


def test_a_batch_retries_only_the_items_that_were_throttled(graphsim_server, config, stratus_app):
    created = graphsim_server.control.create_tenant(
        display_name="Busy",
        users=30,
        groups=1,
        domains=[unique_domain("busy")],
        throttling=True,
        size="small",
        time_scale=2,
    )
    tenant_id = created["id"]
    graphsim_server.control.grant(tenant_id, stratus_app["clientId"], application_permissions=ROLES)
    clock = Clock()
    client = make_client(config, tenant_id, sleep=clock)
    users = list(client.items("users", params={"$select": "id"}))
    group = client.get("groups", params={"$select": "id"})["value"][0]["id"]
    users = [u["id"] for u in users][:20]

    # Spend the resource-unit bucket (3,500 per window for a small tenant) down to 10.
    def used():
        return graphsim_server.control.counters(tenant_id)["resourceUnits"]

    expensive = [
        BatchRequest(id=str(i), method="GET", url=f"/groups/{group}/transitiveMembers")
        for i in range(20)
    ]
    while used() + 120 < 3490:
        client.batch(expensive)
    while used() < 3490:
        client.get(f"groups/{group}", params={"$select": "id"})
    assert used() == 3490

    since = last_log_id(graphsim_server, tenant_id)
    results = client.batch(
        [BatchRequest(id=str(i), method="GET", url=f"/users/{uid}") for i, uid in enumerate(users)]
    )

    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    statuses = {}
    for row in log_since(graphsim_server, tenant_id, since):
        if row["note"].startswith("batch:"):
            statuses.setdefault(row["path"], []).append(row["status"])
    throttled = [path for path, seen in statuses.items() if seen == [429, 200]]
    assert len(throttled) == 10
    assert all(seen in ([200], [429, 200]) for seen in statuses.values()), statuses
    assert len(statuses) == 20 and clock.waits


def test_two_worker_processes_share_one_tenants_write_budget(graphsim_server, config, sim_tenant):
    client = make_client(config, sim_tenant)
    user_ids = [u["id"] for u in client.items("users", params={"$select": "id"})][:40]
    writes, seconds, transit = 10, 1.0, 0.5  # 10 writes per second, 0.5 s on the wire
    limits = (WriteLimit("app+tenant", writes, seconds, "test"),)
    shared = WriteBudget(
        tenant_id=sim_tenant, app_id=config.client_id, redis_url=REDIS_URL, limits=limits
    )
    shared.reset()
    since = last_log_id(graphsim_server, sim_tenant)
    kwargs = {
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "login_url": config.login_url,
        "graph_url": config.graph_url,
        "ca_bundle": config.ca_bundle,
    }
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        jobs = [
            pool.apply_async(
                budget_worker.patch_users,
                (kwargs, sim_tenant, half, REDIS_URL, (writes, seconds, transit), label),
            )
            for half, label in ((user_ids[:20], "one"), (user_ids[20:], "two"))
        ]
        assert [job.get(timeout=120) for job in jobs] == [20, 20]
    arrived = sorted(
        r["time"]
        for r in log_since(graphsim_server, sim_tenant, since)
        if r["method"] == "PATCH" and r["status"] == 204
    )
    assert len(arrived) == 40
    # As graphsim saw them, whichever process sent them: at most 10 in any 1-second
    # interval. Unbudgeted, 40 PATCHes take well under a second.
    worst = max(sum(1 for t in arrived if start <= t < start + seconds) for start in arrived)
    assert worst <= writes, worst
    # 9 bulk writes per 1.5 s (one is the high-priority reserve): 40 need 4 more windows.
    assert arrived[-1] - arrived[0] >= 4 * (seconds + transit) - 0.3
    shared.reset()


def test_the_budget_counts_writes_against_microsofts_documented_windows(config):
    budget = WriteBudget(tenant_id="t-1", app_id=config.client_id, redis_url="")
    assert [(w.units, w.length) for w in budget.windows] == [
        (3000, 150 + TRANSIT_ALLOWANCE),  # graph-facts §5.2
        (18000, 300 + TRANSIT_ALLOWANCE),
        (70000, 300 + TRANSIT_ALLOWANCE),
    ]


def test_no_secret_or_token_reaches_the_logs(config, sim_tenant, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(config, sim_tenant)
    client.get("organization")
    token = client.tokens.token()
    with pytest.raises(NotFound):
        client.get("users/00000000-0000-0000-0000-000000000000")
    assert config.client_secret not in caplog.text
    assert token not in caplog.text and token[:40] not in caplog.text


def test_a_401_refreshes_the_token_once_and_retries(graphsim_server, config, sim_tenant):
    store = MemoryTokenStore()
    tokens = AppOnlyTokens(config=config, tenant_id=sim_tenant, store=store)
    good = tokens.token()
    # The cached token goes bad (revoked, or signed with a rotated key) before it expires.
    bad = good[:-8] + "AAAAAAAA"
    store.save(store.load().replace(good, bad))
    tokens = AppOnlyTokens(config=config, tenant_id=sim_tenant, store=store)
    client = GraphClient(config=config, tokens=tokens)
    assert tokens.token() == bad  # MSAL serves the bad token from the cache
    since = last_log_id(graphsim_server, sim_tenant)
    assert client.get("organization")["value"][0]["id"] == sim_tenant
    rows = log_since(graphsim_server, sim_tenant, since)
    # graphsim logs no row for a request it could not authenticate: one token request
    # (the refresh after the 401), then the successful retry.
    assert [(r["note"], r["status"]) for r in rows] == [("login", 200), ("", 200)]
    assert tokens.token() not in (bad, good)


def test_clients_of_one_tenant_share_one_pooled_session_that_ignores_the_environment(config):
    from m365bridge.graph.transport import tenant_session

    first, second = tenant_session(config, "t-1"), tenant_session(config, "t-1")
    assert first is second and tenant_session(config, "t-2") is not first
    assert first.trust_env is False and first.verify == config.ca_bundle


def test_a_graphsim_time_scale_speeds_the_budget_up_by_the_same_factor(acme, settings):

    from .factories import tenant_row

    tenant = tenant_row(acme, "scaled.example", name="Scaled")
    assert tenant_graph(tenant=tenant).budget.windows[0].length == 150 + TRANSIT_ALLOWANCE
    settings.M365_GRAPH_TIME_SCALE = 4
    budget = tenant_graph(tenant=tenant).budget
    assert budget.windows[0].length == 150 / 4 + TRANSIT_ALLOWANCE
    settings.M365_CLIENT_ID = "stratus-app"
    assert tenant_graph(tenant=tenant).budget.app_id == "stratus-app"  # one app-wide window


def test_a_refused_token_request_is_sent_again_once_consent_is_back(
    graphsim_server, config, stratus_app, sim_tenant
):
    """MSAL would replay a 400 token reply for 60 s; Stratus keeps only discovery."""
    created = graphsim_server.control.create_tenant(
        display_name="Late consent", domains=[unique_domain("late")]
    )
    with pytest.raises(NeedsReauthorization, match="AADSTS700016"):
        make_client(config, created["id"]).tokens.token()
    assert make_client(config, sim_tenant).tokens.token()  # another tenant is untouched

    graphsim_server.control.grant(
        created["id"], stratus_app["clientId"], application_permissions=ROLES
    )
    since = last_log_id(graphsim_server, created["id"])
    assert make_client(config, created["id"]).tokens.token()
    assert [row["status"] for row in log_since(graphsim_server, created["id"], since)] == [200]
