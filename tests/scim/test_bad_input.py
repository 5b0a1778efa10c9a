"""Bad input: each case is a SCIM error with the right scimType, names what is wrong,
and writes nothing (no user, no change, no event)."""

from urllib.parse import quote

import pytest

from audit.models import Event
from directory.models import User

from .conftest import ENTERPRISE, GROUP, USER, new_user, patch_op, scim_error


@pytest.fixture
def dana(scim):
    return scim.post("Users", new_user(title="Engineer")).json()


@pytest.fixture
def unchanged(db):
    """Asserts, after the test, that no user and no event was added or changed."""
    before = (
        list(User.objects.values_list("pk", "email", "job_title", "status")),
        Event.objects.count(),
    )
    yield
    after = (
        list(User.objects.values_list("pk", "email", "job_title", "status")),
        Event.objects.count(),
    )
    assert after == before


def _refused(response, status, scim_type, *words):
    assert response.status_code == status, response.content
    error = scim_error(response)
    assert error.get("scimType") == scim_type, error
    for word in words:
        assert word in error["detail"], error
    return error


def test_an_unknown_attribute_is_invalid_syntax(scim, dana, unchanged):
    response = scim.post("Users", new_user("x@acme.example", shoeSize="44"))
    _refused(response, 400, "invalidSyntax", "shoeSize", "unknown attribute")


def test_an_unknown_extension_attribute_is_invalid_syntax(scim, dana, unchanged):
    response = scim.post(
        "Users", new_user("x@acme.example", **{ENTERPRISE: {"badgeColour": "red"}})
    )
    _refused(response, 400, "invalidSyntax", "badgeColour")


def test_a_wrong_type_is_invalid_value(scim, dana, unchanged):
    response = scim.post("Users", new_user("x@acme.example", active="sometimes"))
    _refused(response, 400, "invalidValue", "active")


def test_a_user_name_that_is_not_an_email_is_invalid_value(scim, dana, unchanged):
    _refused(scim.post("Users", new_user("not-an-email")), 400, "invalidValue", "userName")


def test_a_missing_user_name_is_refused(scim, dana, unchanged):
    body = {"schemas": [USER], "name": {"givenName": "No"}}
    _refused(scim.post("Users", body), 400, "invalidValue", "userName")


def test_a_duplicate_user_name_is_a_uniqueness_conflict(scim, dana, unchanged):
    response = scim.post("Users", new_user("DANA@acme.example"))
    _refused(response, 409, "uniqueness", "userName")


def test_a_user_name_taken_in_another_organization_is_a_conflict_too(scim, charlie, unchanged):
    _refused(scim.post("Users", new_user("charlie@globex.example")), 409, "uniqueness")


def test_a_weak_password_is_refused_and_no_user_is_created(scim, dana, unchanged):
    response = scim.post("Users", new_user("x@acme.example", password="short"))
    _refused(response, 400, "invalidValue", "password")


def test_a_patch_of_a_read_only_attribute_is_a_mutability_error(scim, dana, unchanged):
    for path in ("id", "meta.created"):
        operation = {"op": "replace", "path": path, "value": "2020-01-01T00:00:00Z"}
        _refused(scim.patch(f"Users/{dana['id']}", patch_op(operation)), 400, "mutability", path)


def test_removing_active_is_a_mutability_error(scim, dana, unchanged):
    response = scim.patch(f"Users/{dana['id']}", patch_op({"op": "remove", "path": "active"}))
    _refused(response, 400, "mutability")


def test_a_patch_to_an_unknown_path_is_invalid_path(scim, dana, unchanged):
    operation = {"op": "replace", "path": "favouriteColour", "value": "blue"}
    response = scim.patch(f"Users/{dana['id']}", patch_op(operation))
    assert response.status_code == 400
    assert scim_error(response)["scimType"] in {"invalidPath", "noTarget"}


def test_a_patch_half_valid_writes_nothing(scim, dana, unchanged):
    response = scim.patch(
        f"Users/{dana['id']}",
        patch_op(
            {"op": "replace", "path": "title", "value": "Boss"},
            {"op": "replace", "path": "userName", "value": "not-an-email"},
        ),
    )
    _refused(response, 400, "invalidValue", "userName")


def test_a_body_that_is_not_json_is_invalid_syntax(scim, dana, unchanged):
    response = scim.client.post(
        "/scim/v2/Users", data="{nope", content_type="application/scim+json"
    )
    _refused(response, 400, "invalidSyntax")


def test_a_filter_of_ten_thousand_characters_is_refused_before_parsing(scim, dana, unchanged):
    long_filter = " or ".join(['userName eq "a@b.c"'] * 500)[:10_000]
    assert len(long_filter) == 10_000
    response = scim.get(f"Users?filter={quote(long_filter)}")
    _refused(response, 400, "invalidFilter", "too long")


@pytest.mark.parametrize(
    "text",
    [
        'userName eq "x" or 1=1',
        'userName eq "x"; DROP TABLE directory_user; --',
        'userName eq "x") OR ("1"="1',
        "userName eq",
        'nosuch eq "x"',
        'userName zz "x"',
    ],
)
def test_a_malformed_or_injected_filter_is_invalid_filter(scim, dana, text, unchanged):
    _refused(scim.get(f"Users?filter={quote(text)}"), 400, "invalidFilter")
    assert User.objects.filter(pk=dana["id"]).exists()


def test_sql_in_a_filter_value_is_only_a_value(scim, dana, unchanged):
    text = "userName eq \"' OR '1'='1\" or displayName co \"%' OR 1=1 --\""
    response = scim.get(f"Users?filter={quote(text)}")
    assert response.status_code == 200
    assert response.json()["totalResults"] == 0


def test_a_filter_cannot_widen_past_the_organization(scim, charlie, unchanged):
    response = scim.get(f"Users?filter={quote('userName pr')}")
    names = [r["userName"] for r in response.json()["Resources"]]
    assert "charlie@globex.example" not in names and "alice@acme.example" in names


def test_an_unknown_sort_attribute_is_invalid_value(scim, unchanged):
    _refused(scim.get("Users?sortBy=shoeSize"), 400, "invalidValue", "shoeSize")


def test_a_bad_start_index_is_invalid_value(scim, unchanged):
    _refused(scim.get("Users?startIndex=first"), 400, "invalidValue", "startIndex")


def test_a_group_with_an_unknown_attribute_is_invalid_syntax(scim, unchanged):
    response = scim.post("Groups", {"schemas": [GROUP], "displayName": "G", "owner": "me"})
    _refused(response, 400, "invalidSyntax", "owner")


def test_an_unsupported_method_is_405_in_scim_shape(scim, unchanged):
    response = scim.client.put(
        "/scim/v2/ServiceProviderConfig", data="{}", content_type="application/scim+json"
    )
    assert response.status_code == 405
    scim_error(response)


def test_an_unknown_endpoint_is_404_in_scim_shape(scim, unchanged):
    response = scim.get("Devices")
    assert response.status_code == 404
    scim_error(response)


def test_an_unexpected_failure_is_a_500_in_scim_shape_without_details(scim, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr("scim.selectors.scim_user_page", broken)
    response = scim.get("Users")
    assert response.status_code == 500
    assert scim_error(response)["detail"] == "Something went wrong on our side."
    assert "hunter2" not in response.content.decode()


@pytest.mark.parametrize("pk", ["99999999999999999999", "-1", "1.5", "abc"])
def test_ids_that_cannot_be_a_row_are_404(scim, pk):
    assert scim.get(f"Users/{pk}").status_code == 404
    assert scim.get(f"Groups/{pk}").status_code == 404


def test_a_member_id_out_of_range_is_invalid_value(scim, unchanged):
    body = {"schemas": [GROUP], "displayName": "G", "members": [{"value": "9" * 30}]}
    _refused(scim.post("Groups", body), 400, "invalidValue", "members")
