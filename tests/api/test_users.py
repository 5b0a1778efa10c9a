import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import Event
from directory import services
from directory.models import User
from tests.conftest import PASSWORD

from .helpers import error_of, key_client

NEW_PASSWORD = "Another-Horse-77"


def test_it_lists_the_organizations_users_paged_with_their_profile(api, alice, bob, charlie):
    response = api.get("/api/v1/users")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert {u["email"] for u in body["results"]} == {"alice@acme.example", "bob@acme.example"}
    bob_out = next(u for u in body["results"] if u["email"] == "bob@acme.example")
    assert bob_out["role"] == "member" and bob_out["status"] == "active"
    assert bob_out["first_name"] == "Bob" and bob_out["display_name"] == "Bob Brown"
    assert {
        "id",
        "created_at",
        "password_changed_at",
        "groups",
        "usage_location",
        "business_phones",
    } <= set(bob_out)
    assert "password" not in bob_out


def test_it_pages_with_page_and_page_size(api, acme, alice):
    for n in range(3):
        services.user_create(actor=alice, organization=acme, email=f"u{n}@acme.example")
    body = api.get("/api/v1/users", {"page_size": 2, "page": 2}).json()
    assert body["count"] == 4 and len(body["results"]) == 2 and body["previous"]


def test_a_page_past_the_end_is_a_404_in_the_error_shape(api, alice):
    response = api.get("/api/v1/users", {"page": 9})
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_it_searches_and_filters_users(api, acme, alice, bob):
    services.user_create(
        actor=alice,
        organization=acme,
        email="carol@acme.example",
        role=User.ADMIN,
        first_name="Carol",
    )
    assert [u["email"] for u in api.get("/api/v1/users", {"q": "BRO"}).json()["results"]] == [
        "bob@acme.example"
    ]
    staged = api.get("/api/v1/users", {"status": "staged"}).json()["results"]
    assert [u["email"] for u in staged] == ["carol@acme.example"]
    admins = api.get("/api/v1/users", {"role": "admin"}).json()["results"]
    assert [u["email"] for u in admins] == ["carol@acme.example"]


def test_a_bad_filter_is_a_400_naming_it(api, alice):
    response = api.get("/api/v1/users", {"status": "sleeping"})
    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["status"]


def test_listing_users_costs_the_same_queries_for_many_users_in_many_groups(api, acme, alice):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert api.get("/api/v1/users").status_code == 200
        return len(captured)

    group = services.group_create(actor=alice, organization=acme, name="All")
    services.group_member_add(actor=alice, group=group, user=alice)
    queries()  # the first request also notes the key's last use
    few = queries()
    for n in range(10):
        user = services.user_create(actor=alice, organization=acme, email=f"n{n}@acme.example")
        services.group_member_add(actor=alice, group=group, user=user)
    assert queries() == few


def test_it_creates_a_staged_user_without_a_password(api, acme):
    response = api.post(
        "/api/v1/users",
        {
            "email": "Dana@Acme.example",
            "first_name": "Dana",
            "last_name": "Diaz",
            "usage_location": "de",
            "business_phones": ["+49 30 1234"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["email"] == "dana@acme.example"
    assert body["status"] == "staged" and body["role"] == "member"
    assert body["usage_location"] == "DE" and body["display_name"] == "Dana Diaz"
    assert body["password_changed_at"] is None
    assert User.objects.get(pk=body["id"]).organization == acme


def test_it_creates_an_active_user_with_a_password_and_never_echoes_it(api):
    response = api.post(
        "/api/v1/users",
        {"email": "eve@acme.example", "role": "admin", "password": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["status"] == "active" and response.json()["role"] == "admin"
    assert NEW_PASSWORD not in response.content.decode()
    assert User.objects.get(email="eve@acme.example").check_password(NEW_PASSWORD)


@pytest.mark.parametrize("send_activation,emails", [(None, 1), (True, 1), (False, 0)])
def test_create_sends_the_activation_email_unless_told_not_to(
    api, django_capture_on_commit_callbacks, send_activation, emails
):
    body = {"email": "wren@acme.example"}
    if send_activation is not None:
        body["send_activation"] = send_activation
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post("/api/v1/users", body, format="json").status_code == 201
    assert [m.to for m in mail.outbox] == [["wren@acme.example"]] * emails


def test_create_names_each_invalid_field(api):
    response = api.post(
        "/api/v1/users",
        {"email": "not-an-email", "role": "boss", "usage_location": "Germany"},
        format="json",
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert {"email", "role"} <= set(error["fields"])


def test_create_reports_the_service_rules_per_field(api):
    response = api.post(
        "/api/v1/users", {"email": "f@acme.example", "usage_location": "Germ"}, format="json"
    )
    assert response.status_code == 400
    assert "usage_location" in error_of(response)["fields"]


def test_create_refuses_a_password_the_policy_rejects_naming_the_password(api):
    response = api.post(
        "/api/v1/users", {"email": "g@acme.example", "password": "short"}, format="json"
    )
    assert response.status_code == 400
    error = error_of(response)
    assert list(error["fields"]) == ["password"] and error["fields"]["password"]
    assert "short" not in str(error)
    assert not User.objects.filter(email="g@acme.example").exists()


def test_create_refuses_unknown_fields(api):
    response = api.post(
        "/api/v1/users", {"email": "h@acme.example", "firstname": "H"}, format="json"
    )
    assert response.status_code == 400
    assert error_of(response)["fields"] == {"firstname": ["Unknown field."]}


def test_an_email_taken_in_another_organization_is_a_409_whatever_its_case(api, charlie):
    response = api.post("/api/v1/users", {"email": "CHARLIE@globex.EXAMPLE"}, format="json")
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "email_taken"
    assert error["fields"] == {"email": ["An account with this email already exists."]}


def test_only_an_owner_key_may_make_an_owner(acme, alice, bob):
    carol = services.user_create(
        actor=alice,
        organization=acme,
        email="carol@acme.example",
        role=User.ADMIN,
        password=PASSWORD,
    )
    _, secret = services.api_key_create(actor=carol, organization=acme, name="carol")
    response = key_client(secret).post(
        "/api/v1/users", {"email": "o@acme.example", "role": "owner"}, format="json"
    )
    assert response.status_code == 403
    assert "role" in error_of(response)["fields"]


def test_a_key_whose_creator_was_deleted_stops_working(acme, alice):
    carol = services.user_create(
        actor=alice,
        organization=acme,
        email="carol@acme.example",
        role=User.OWNER,
        password=PASSWORD,
    )
    _, secret = services.api_key_create(actor=carol, organization=acme, name="carol")
    client = key_client(secret)
    assert client.get("/api/v1/users").status_code == 200
    services.user_delete(actor=alice, user=carol)
    for response in (
        client.get("/api/v1/users"),
        client.post("/api/v1/users", {"email": "o@acme.example", "role": "owner"}, format="json"),
    ):
        assert response.status_code == 401
        error = error_of(response)
        assert error["code"] == "not_authenticated"
        assert "no longer a member" in error["message"]
    assert not User.objects.filter(email="o@acme.example").exists()


def test_it_retrieves_a_user_with_their_group_ids(api, bob, engineers, alice):
    services.group_member_add(actor=alice, group=engineers, user=bob)
    response = api.get(f"/api/v1/users/{bob.pk}")
    assert response.status_code == 200
    assert response.json()["groups"] == [engineers.pk]


def test_a_missing_user_is_a_404_in_the_error_shape(api):
    response = api.get("/api/v1/users/999999")
    assert response.status_code == 404
    assert error_of(response) == {"code": "not_found", "message": "Not found.", "fields": {}}


def test_patch_changes_only_the_given_fields(api, bob):
    response = api.patch(f"/api/v1/users/{bob.pk}", {"job_title": "Engineer"}, format="json")
    assert response.status_code == 200
    bob.refresh_from_db()
    assert bob.job_title == "Engineer" and bob.first_name == "Bob"
    assert Event.objects.get(type="user_update").details == {"changed": ["job_title"]}


def test_patch_to_a_taken_email_is_a_409(api, bob, alice):
    response = api.patch(f"/api/v1/users/{bob.pk}", {"email": "Alice@acme.example"}, format="json")
    assert response.status_code == 409
    assert error_of(response)["code"] == "email_taken"


def test_patch_with_a_bad_field_names_it(api, bob):
    response = api.patch(
        f"/api/v1/users/{bob.pk}", {"business_phones": "not a list", "role": 3}, format="json"
    )
    assert response.status_code == 400
    assert {"business_phones", "role"} <= set(error_of(response)["fields"])


def test_put_is_not_offered(api, bob):
    response = api.put(f"/api/v1/users/{bob.pk}", {"email": "b@acme.example"}, format="json")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_a_body_that_is_not_json_is_a_415(api, bob):
    response = api.patch(f"/api/v1/users/{bob.pk}", "job_title=x", content_type="text/plain")
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_malformed_json_is_a_400(api, bob):
    response = api.patch(f"/api/v1/users/{bob.pk}", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "parse_error"


def test_it_deletes_a_user(api, bob):
    response = api.delete(f"/api/v1/users/{bob.pk}")
    assert response.status_code == 204
    assert not User.objects.filter(pk=bob.pk).exists()


def test_the_keys_creator_cannot_delete_themselves_through_it(api, alice):
    response = api.delete(f"/api/v1/users/{alice.pk}")
    assert response.status_code == 403
    assert error_of(response)["code"] == "not_allowed"


def test_it_sets_a_password_and_answers_without_it(api, acme, alice):
    dana = services.user_create(actor=alice, organization=acme, email="dana@acme.example")
    response = api.post(
        f"/api/v1/users/{dana.pk}/password", {"password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 204 and not response.content
    dana.refresh_from_db()
    assert dana.check_password(NEW_PASSWORD) and dana.status == User.ACTIVE
    assert not dana.must_change_password
    assert (
        Event.objects.get(type="user_password_set", target_id=str(dana.pk)).details["source"]
        == "admin"
    )


def test_a_temporary_password_must_be_changed_at_next_sign_in(api, bob):
    response = api.post(
        f"/api/v1/users/{bob.pk}/password",
        {"password": NEW_PASSWORD, "must_change": True},
        format="json",
    )
    assert response.status_code == 204
    bob.refresh_from_db()
    assert bob.must_change_password and bob.check_password(NEW_PASSWORD)


def test_a_password_against_the_policy_is_a_400_naming_password(api, bob):
    response = api.post(f"/api/v1/users/{bob.pk}/password", {"password": "abc"}, format="json")
    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["password"]
    bob.refresh_from_db()
    assert bob.check_password(PASSWORD)


def test_a_missing_password_is_a_400_naming_password(api, bob):
    response = api.post(f"/api/v1/users/{bob.pk}/password", {}, format="json")
    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["password"]


def test_it_suspends_and_reactivates_a_user(api, bob):
    response = api.post(f"/api/v1/users/{bob.pk}/suspend")
    assert response.status_code == 200 and response.json()["status"] == "suspended"
    response = api.post(f"/api/v1/users/{bob.pk}/activate")
    assert response.status_code == 200 and response.json()["status"] == "active"
    assert list(
        Event.objects.filter(
            target_id=str(bob.pk), type__in=["user_suspend", "user_activate"]
        ).values_list("type", flat=True)
    ) == ["user_activate", "user_suspend"]


@pytest.mark.parametrize("how", ["create", "update", "password", "suspend", "delete"])
def test_writes_through_a_key_name_its_creator_as_the_actor(api, alice, bob, how):
    calls = {
        "create": lambda: api.post("/api/v1/users", {"email": "z@acme.example"}, format="json"),
        "update": lambda: api.patch(f"/api/v1/users/{bob.pk}", {"city": "Oslo"}, format="json"),
        "password": lambda: api.post(
            f"/api/v1/users/{bob.pk}/password", {"password": NEW_PASSWORD}, format="json"
        ),
        "suspend": lambda: api.post(f"/api/v1/users/{bob.pk}/suspend"),
        "delete": lambda: api.delete(f"/api/v1/users/{bob.pk}"),
    }
    before = Event.objects.count()
    assert calls[how]().status_code < 300
    event = Event.objects.order_by("-id").first()
    assert Event.objects.count() == before + 1
    assert event.actor == alice and event.actor_label == "alice@acme.example"
