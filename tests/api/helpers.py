"""Checks shared by the API tests."""

import json

from rest_framework.test import APIClient


def key_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def error_of(response) -> dict:
    """The error body, after checking it has the API's one shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def raw(response) -> str:
    return json.dumps(response.json()) if response.content else ""
