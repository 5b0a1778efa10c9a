"""Every Graph failure is mapped once into a typed exception carrying Microsoft's
code, message and request-id."""

import pytest

from m365bridge.graph.config import GraphConfig, InsecureEndpoint
from m365bridge.graph.errors import (
    AuthorizationError,
    BadRequest,
    Conflict,
    DeltaExpired,
    NotFound,
    Throttled,
    Transient,
    error_from_response,
    parse_retry_after,
)


def envelope(code, message, request_id="rid-1"):
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"date": "2026-01-01T00:00:00", "request-id": request_id},
        }
    }


def test_a_429_is_throttled_with_its_retry_after_and_request_id():
    error = error_from_response(
        429,
        {"Retry-After": "2.5", "request-id": "abc"},
        envelope("TooManyRequests", "Please retry again later."),
    )
    assert isinstance(error, Throttled) and error.retryable
    assert error.retry_after == 2.5
    assert error.request_id == "abc"


@pytest.mark.parametrize(
    "value,seconds", [("10", 10.0), ("2.128", 2.128), ("", None), ("soon", None)]
)
def test_retry_after_is_read_as_integer_or_decimal_seconds(value, seconds):
    assert parse_retry_after(value) == seconds


def test_a_5xx_is_transient_and_a_404_is_not_found():
    assert isinstance(error_from_response(502, {}, None), Transient)
    not_found = error_from_response(
        404, {}, envelope("Request_ResourceNotFound", "Resource 'x' does not exist.")
    )
    assert isinstance(not_found, NotFound) and not not_found.retryable
    assert not_found.request_id == "rid-1"


def test_an_object_conflict_400_is_a_conflict():
    body = envelope(
        "Request_BadRequest",
        "Another object with the same value for property userPrincipalName already exists.",
    )
    body["error"]["details"] = [{"target": "userPrincipalName", "code": "ObjectConflict"}]
    assert isinstance(error_from_response(400, {}, body), Conflict)


def test_a_plain_400_is_a_bad_request_with_microsofts_code_and_message():
    error = error_from_response(
        400,
        {},
        envelope(
            "Request_BadRequest",
            "The specified password does not comply with password "
            "complexity requirements. Please provide a different password.",
        ),
    )
    assert type(error) is BadRequest
    assert error.code == "Request_BadRequest"
    assert "password complexity" in str(error) and "rid-1" in str(error)


def test_403_is_an_authorization_error_and_an_expired_delta_link_says_so():
    assert isinstance(
        error_from_response(
            403,
            {},
            envelope(
                "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
            ),
        ),
        AuthorizationError,
    )
    assert isinstance(
        error_from_response(400, {}, envelope("syncStateNotFound", "expired")), DeltaExpired
    )


def test_plain_http_is_refused_unless_the_ca_is_graphsims(tmp_path):
    with pytest.raises(InsecureEndpoint):
        GraphConfig(client_id="c", client_secret="s", graph_url="http://graph.example")
    assert (
        GraphConfig(client_id="c", client_secret="s").graph_base
        == "https://graph.microsoft.com/v1.0"
    )


def test_the_client_secret_is_not_in_the_configs_repr():
    assert "s3cret" not in repr(GraphConfig(client_id="c", client_secret="s3cret"))
