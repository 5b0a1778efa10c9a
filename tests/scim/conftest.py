"""SCIM clients for the fixed cast: Acme's SCIM key (made by alice) and Globex's (made
by charlie), each a Django test client that speaks application/scim+json."""

import json

import pytest
from django.test import Client

from directory import services
from directory.models import ApiKey

# Microsoft 365 (graphsim) for the provisioning tests, with the helpers as they are.
from tests.m365bridge.conftest import graphsim_server, m365, stratus_app  # noqa: F401
from tests.m365bridge.provisioning import ms, queued, tenant  # noqa: F401

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PASSWORD = "Kx7#mWq2-Lp9zR"


class ScimClient:
    def __init__(self, secret: str):
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    def _send(self, method, path, body=None, **headers):
        url = path if path.startswith("/") else f"/scim/v2/{path}"
        data = json.dumps(body) if body is not None else None
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        return getattr(self.client, method)(
            url, data=data, content_type="application/scim+json", **extra
        )

    def get(self, path, **headers):
        return self.client.get(
            path if path.startswith("/") else f"/scim/v2/{path}",
            **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()},
        )

    def post(self, path, body, **headers):
        return self._send("post", path, body, **headers)

    def put(self, path, body, **headers):
        return self._send("put", path, body, **headers)

    def patch(self, path, body, **headers):
        return self._send("patch", path, body, **headers)

    def delete(self, path, **headers):
        return self._send("delete", path, **headers)


def scim_key(actor, organization, name="HR sync"):
    return services.api_key_create(
        actor=actor, organization=organization, name=name, scope=ApiKey.SCOPE_SCIM
    )


@pytest.fixture
def scim(acme, alice):
    return ScimClient(scim_key(alice, acme)[1])


@pytest.fixture
def charlie_scim(globex, charlie):
    return ScimClient(scim_key(charlie, globex, "Globex HR")[1])


def new_user(user_name="dana@acme.example", **attrs):
    return {
        "schemas": [USER, ENTERPRISE],
        "userName": user_name,
        "name": {"givenName": "Dana", "familyName": "Doe"},
        **attrs,
    }


def patch_op(*operations):
    return {"schemas": [PATCH], "Operations": list(operations)}


def scim_error(response) -> dict:
    """The SCIM error of a response, checked for RFC 7644's shape."""
    assert response["Content-Type"].startswith("application/scim+json"), response["Content-Type"]
    body = response.json()
    assert body["schemas"] == [ERROR], body
    assert body["status"] == str(response.status_code), body
    return body
