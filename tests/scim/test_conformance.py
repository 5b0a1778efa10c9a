"""The public scim2-tester suite against a live Stratus: discovery, create, read,
replace, patch, query and delete of every resource type Stratus publishes. Every check
that applies to what ServiceProviderConfig advertises passes; the README lists what is
not advertised and carries this run's summary."""

import uuid
from collections import Counter
from collections.abc import Sequence

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import ScimProvider
from scim2_tester import Status, check_server

from scim import schemas

from .conftest import scim_key

PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}


class _FreshEach(Sequence):
    """Examples that are new every time scim2-tester picks one (it draws with
    `random.choice`): a fixed list of 500 userNames gave two users the same address
    once in a few runs, which Stratus rightly refuses."""

    def __init__(self, make):
        self.make = make

    def __len__(self) -> int:
        return 1_000_000

    def __getitem__(self, index):
        return self.make()


def _described_with_email_user_names() -> ScimProvider:
    """What the server publishes, described on the client side, plus the one rule no SCIM
    schema can say: a Stratus userName is an email address (it is the user's sign-in),
    an employeeNumber has at most 16 characters (Microsoft's limit for employeeId) and a
    password follows the organization's policy. scim2-tester fills an attribute from
    its field's examples when it has some, else with a random UUID, which Stratus rightly
    refuses for these three."""
    described = ScimProvider.from_discovery(
        schemas.schemas(), schemas.resource_types(), schemas.service_provider_config()
    )
    examples = {
        "user_name": _FreshEach(lambda: f"{uuid.uuid4().hex}@tester.example"),
        "password": [f"Tester-{uuid.uuid4().hex[:10]}-Pw1" for _ in range(50)],
    }
    for model in (described.model_for("User"), described.model_for(schemas.USER_SCHEMA)):
        for name, values in examples.items():
            model.model_fields[name].examples = values
    enterprise = described.model_for(schemas.ENTERPRISE_SCHEMA)
    enterprise.model_fields["employee_number"].examples = [uuid.uuid4().hex[:16] for _ in range(50)]
    return described


@pytest.fixture
def tester_client(live_server, settings, acme, alice):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _, secret = scim_key(alice, acme)
    http = httpx2.Client(
        base_url=f"{live_server.url}/scim/v2",
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )
    yield SyncSCIMClient(http, provider=_described_with_email_user_names())
    http.close()


@pytest.mark.slow
def test_stratus_passes_every_scim2_tester_check(tester_client):
    results = check_server(tester_client)
    summary = Counter(result.status.name for result in results)
    print("\nscim2-tester:", dict(sorted(summary.items())))
    failed = [
        f"{r.resource_type or '-'} {r.title}: {r.reason}"
        for r in results
        if r.status not in PASSING and r.status != Status.SKIPPED
    ]
    assert len(results) > 30
    assert not failed, "\n".join(failed)
