"""Bodies the API refuses, and paths it does not have: each answers in the API's one
error shape, never a 500 or an HTML page."""

import json

import pytest
from django.test import Client

from .helpers import error_of


def test_a_body_larger_than_the_limit_is_a_413_in_the_error_shape(api, settings):
    body = json.dumps({"email": "x" * (10 * 1024 * 1024)})
    response = api.post("/api/v1/users", data=body, content_type="application/json")
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "request_too_large"
    assert f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes" in error["message"]


def test_deeply_nested_json_is_a_400_in_the_error_shape(api):
    body = "[" * 100_000 + "]" * 100_000
    response = api.post("/api/v1/users", data=body, content_type="application/json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "parse_error"
    assert "nested too deeply" in error["message"]


def test_a_multipart_body_is_refused_as_415(api):
    response = api.post("/api/v1/users", data={"email": "form@acme.example"}, format="multipart")
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_a_urlencoded_body_is_refused_as_415(api):
    response = api.post(
        "/api/v1/groups",
        data="name=Sales",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options"])
@pytest.mark.parametrize(
    "path", ["/api/v1/nope", "/api/v1/m365/nope", "/api/v2/users", "/api/", "/api"]
)
def test_every_unmatched_api_path_is_the_json_404_for_every_method(db, method, path):
    browser = Client(enforce_csrf_checks=True)  # a POST without a token, as a script sends
    response = getattr(browser, method)(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert error_of(response)["code"] == "not_found"
