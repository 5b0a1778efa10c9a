"""The OpenAPI document is true: schemathesis generates requests from the real schema at
/api/v1/schema/ and sends them, with an API key of a seeded organization, to the app
in-process (WSGI). No answer may be a 5xx, carry a status the operation does not
document, or differ from its documented body. Bounded so the whole run stays well
under 90 s: a few examples per operation, derandomized so every run tries the same."""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from directory import services
from m365bridge import services as m365_services
from tests.m365bridge.factories import tenant_row

pytestmark = pytest.mark.slow
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(autouse=True)
def _requests_keep_the_test_transaction(db):
    """As Django's test client does: a finished request must not close the connection
    that holds the test's transaction."""
    signals.request_finished.disconnect(close_old_connections)
    signals.request_started.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(acme, alice, bob, engineers):
    """Acme with a member in a group, a connected tenant that bob is bound to, and an API
    key; and the ids of those objects, for the path parameters of a second call."""
    services.group_member_add(actor=alice, group=engineers, user=bob)
    tenant = tenant_row(acme, "acme.example")
    [result] = m365_services.users_bind(actor=alice, tenant=tenant, users=[bob])
    assert result.ok, result
    _, secret = services.api_key_create(actor=alice, organization=acme, name="schemathesis")
    ids = {"user_id": bob.pk, "group_id": engineers.pk, "tenant_id": tenant.pk}
    return {"Authorization": f"Bearer {secret}"}, ids


# Loaded at collection, from the running app's own endpoint (which needs no database).
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case, seeded):
    headers, ids = seeded
    case.call_and_validate(headers=headers, checks=CHECKS)
    if case.path_parameters and all(name in ids for name in case.path_parameters):
        # Generated ids almost never exist, so each case is sent again for real objects,
        # to check the answers of operations that succeed (or refuse on their merits).
        case.path_parameters = {name: ids[name] for name in case.path_parameters}
        case.call_and_validate(headers=headers, checks=CHECKS)
