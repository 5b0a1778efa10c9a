"""Rate limits per key and per client address on the REST API and SCIM: over a limit,
429 with Retry-After in the API's (or SCIM's) error shape; another key, or another
address, is not affected. The counts live in Redis (REDIS_URL), shared by every
process. Each test uses addresses of its own, and a long window so that no window ends
during a test (the counts of a fixed window start again when it ends)."""

import uuid

import pytest
from django.conf import settings as django_settings
from redis import Redis

from directory import services
from directory.models import ApiKey
from tests.scim.conftest import ScimClient, scim_error

from .helpers import error_of, key_client

WINDOW = 24 * 3600


@pytest.fixture
def limits(settings):
    settings.API_RATE_WINDOW_SECONDS = WINDOW
    settings.API_RATE_LIMIT_PER_KEY = 3
    settings.API_RATE_LIMIT_PER_ADDRESS = 5
    return settings


@pytest.fixture
def address():
    """An address no other test (nor an earlier run in this window) has used."""
    return f"fd00::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"


def _client(acme, alice, **options):
    _, secret = services.api_key_create(actor=alice, organization=acme, name="k", **options)
    return key_client(secret)


def _retry_after(response) -> int:
    seconds = int(response["Retry-After"])
    assert 1 <= seconds <= WINDOW
    return seconds


def test_a_key_over_its_limit_gets_429_with_retry_after(limits, acme, alice, address):
    client, other = _client(acme, alice), _client(acme, alice)
    for _ in range(3):
        assert client.get("/api/v1/users", REMOTE_ADDR=address).status_code == 200
    response = client.get("/api/v1/users", REMOTE_ADDR=address)
    assert response.status_code == 429
    _retry_after(response)
    error = error_of(response)
    assert error["code"] == "throttled"
    assert "this API key" in error["message"] and "Try again in" in error["message"]
    assert other.get("/api/v1/users", REMOTE_ADDR=address).status_code == 200


def test_an_address_over_its_limit_gets_429_whatever_the_key(limits, acme, alice, address):
    clients = [_client(acme, alice) for _ in range(3)]
    for n in range(5):
        assert clients[n % 2].get("/api/v1/users", REMOTE_ADDR=address).status_code == 200
    response = clients[2].get("/api/v1/users", REMOTE_ADDR=address)
    assert response.status_code == 429
    assert "your address" in error_of(response)["message"]
    _retry_after(response)
    assert clients[2].get("/api/v1/users", REMOTE_ADDR=address + "1").status_code == 200


def test_guessing_keys_counts_against_the_address(limits, db, address):
    guesser = key_client("stk_0123456789abcdef_nope")
    assert [guesser.get("/api/v1/users", REMOTE_ADDR=address).status_code for _ in range(6)] == [
        401
    ] * 5 + [429]


def test_scim_over_the_limit_gets_429_in_scim_shape(limits, acme, alice, address):
    _, secret = services.api_key_create(
        actor=alice, organization=acme, name="HR", scope=ApiKey.SCOPE_SCIM
    )
    scim = ScimClient(secret)
    scim.client.defaults["REMOTE_ADDR"] = address
    for _ in range(3):
        assert scim.get("Users").status_code == 200
    response = scim.get("Users")
    assert response.status_code == 429
    _retry_after(response)
    assert "Try again in" in scim_error(response)["detail"]


def test_the_counts_are_kept_in_redis(limits, acme, alice, address):
    assert django_settings.REDIS_URL
    _client(acme, alice).get("/api/v1/users", REMOTE_ADDR=address)
    redis = Redis.from_url(django_settings.REDIS_URL)
    assert redis.keys("*ratelimit:key:*") and redis.keys("*ratelimit:address:*")
