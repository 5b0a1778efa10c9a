"""An API key never has more rights than its creator has now (directory.roles)."""

from directory import services
from directory.models import User
from tests.conftest import PASSWORD

from .helpers import error_of, key_client


def _admin_with_key(acme, alice):
    ada = services.user_create(
        actor=alice, organization=acme, email="ada@acme.example", role=User.ADMIN, password=PASSWORD
    )
    _, secret = services.api_key_create(actor=ada, organization=acme, name="ada's sync")
    return ada, key_client(secret)


def test_a_demoted_creators_key_narrows_to_their_new_role(acme, alice, bob):
    ada, client = _admin_with_key(acme, alice)
    assert client.post(f"/api/v1/users/{bob.pk}/suspend").status_code == 200
    services.user_activate(actor=alice, user=bob)
    services.user_update(actor=alice, user=ada, role=User.READ_ONLY)
    assert client.get("/api/v1/users").status_code == 200
    response = client.post(f"/api/v1/users/{bob.pk}/suspend")
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"


def test_a_creator_demoted_to_member_stops_their_keys(acme, alice):
    ada, client = _admin_with_key(acme, alice)
    services.user_update(actor=alice, user=ada, role=User.MEMBER)
    assert client.get("/api/v1/users").status_code == 403
