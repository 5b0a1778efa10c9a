import pytest
from django.utils import timezone

from directory import services
from directory.models import ApiKey, User
from tests.conftest import PASSWORD

from .helpers import error_of, key_client


def test_no_credentials_is_a_401_in_the_error_shape(client, acme):
    response = client.get("/api/v1/users")
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer stk_abc_def", "Bearer "])
def test_an_invalid_key_is_a_401(client, acme, header):
    response = client.get("/api/v1/users", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_a_revoked_key_is_a_401(alice, alice_key):
    key, secret = alice_key
    client = key_client(secret)
    assert client.get("/api/v1/users").status_code == 200
    services.api_key_revoke(actor=alice, key=key)
    response = client.get("/api/v1/users")
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_a_key_with_a_wrong_secret_for_a_real_lookup_is_a_401(alice_key):
    key, secret = alice_key
    response = key_client(secret[:-4] + "AAAA").get("/api/v1/users")
    assert response.status_code == 401


def test_using_a_key_notes_when_it_was_last_used(alice_key):
    key, secret = alice_key
    assert key.last_used_at is None
    before = timezone.now()
    key_client(secret).get("/api/v1/users")
    key.refresh_from_db()
    assert key.last_used_at is not None and key.last_used_at >= before


def test_a_key_acts_for_its_own_organization_only(api, alice, charlie):
    emails = [u["email"] for u in api.get("/api/v1/users").json()["results"]]
    assert "charlie@globex.example" not in emails


def test_an_admins_session_may_use_the_api(session_client, alice):
    assert session_client(alice).get("/api/v1/users").status_code == 200


def test_a_session_write_needs_the_csrf_token(session_client, alice):
    client = session_client(alice, csrf=False)
    response = client.post("/api/v1/groups", {"name": "Ops"}, format="json")
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
    assert "CSRF" in error_of(response)["message"]


def test_a_session_write_with_the_csrf_token_works(session_client, alice):
    response = session_client(alice).post("/api/v1/groups", {"name": "Ops"}, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/api/v1/users"),
        ("post", "/api/v1/users"),
        ("get", "/api/v1/groups"),
        ("get", "/api/v1/events"),
    ],
)
def test_a_member_cannot_use_the_api(session_client, bob, method, path):
    response = getattr(session_client(bob), method)(path)
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "permission_denied"
    assert error["message"] == "Only organization admins and owners can use the API."


def test_a_member_cannot_read_a_user_through_the_api(session_client, bob, alice):
    response = session_client(bob).get(f"/api/v1/users/{alice.pk}")
    assert response.status_code == 403
    assert "alice" not in response.content.decode()


def test_a_service_operator_without_an_organization_cannot_use_the_api(session_client, db):
    operator = User.objects.create_superuser(email="ops@stratus.example", password=PASSWORD)
    assert session_client(operator).get("/api/v1/users").status_code == 403


def test_a_suspended_admins_session_is_refused(session_client, acme, alice):
    carol = services.user_create(
        actor=alice,
        organization=acme,
        email="carol@acme.example",
        role=User.ADMIN,
        password=PASSWORD,
    )
    client = session_client(carol)
    services.user_suspend(actor=alice, user=carol)
    assert client.get("/api/v1/users").status_code == 401


def test_an_unknown_api_path_is_a_404_in_the_error_shape(api):
    response = api.get("/api/v1/nothing/here")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_keys_are_stored_hashed(alice_key):
    key, secret = alice_key
    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    assert secret not in str(stored)
