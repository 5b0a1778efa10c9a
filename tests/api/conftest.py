"""API clients for the fixed cast: alice's key (Acme), charlie's key (Globex), and
session clients for alice and bob."""

import pytest
from rest_framework.test import APIClient

from directory import services

from .helpers import key_client


@pytest.fixture
def alice_key(acme, alice):
    return services.api_key_create(actor=alice, organization=acme, name="alice's script")


@pytest.fixture
def api(alice_key):
    """Acme's API, through alice's key."""
    return key_client(alice_key[1])


@pytest.fixture
def charlie_api(globex, charlie):
    _, secret = services.api_key_create(actor=charlie, organization=globex, name="globex")
    return key_client(secret)


@pytest.fixture
def session_client():
    """A signed-in browser session. With `csrf=True` it sends the CSRF token, as the
    console's pages do."""

    def signed_in(user, *, csrf=True):
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(user)
        if csrf:
            client.get("/api/v1/docs/")  # a page that hands out the token
            client.defaults["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
        return client

    return signed_in


@pytest.fixture
def engineers(acme, alice):
    return services.group_create(
        actor=alice, organization=acme, name="Engineers", description="Builds things"
    )
