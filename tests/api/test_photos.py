"""GET, PUT and DELETE /api/v1/users/{id}/photo: the image itself as the body, checked
by content with each refusal a 400 naming `photo`, nothing stored on a refusal, and
`has_photo` on the user."""

import pytest

from audit.models import Event
from directory.models import User
from tests.photo_files import image, oversized_jpeg, pdf_renamed, png_header_only

from .helpers import error_of


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def put(api, user, data, content_type="image/jpeg"):
    return api.generic("PUT", f"/api/v1/users/{user.pk}/photo", data, content_type=content_type)


def test_put_stores_the_photo_get_returns_it_and_the_user_says_so(api, bob):
    data = image("PNG")
    assert put(api, bob, data, "image/png").status_code == 204
    got = api.get(f"/api/v1/users/{bob.pk}/photo")
    assert got.status_code == 200 and got["Content-Type"] == "image/png"
    assert got.content == data
    assert api.get(f"/api/v1/users/{bob.pk}").json()["has_photo"] is True
    event = Event.objects.get(type="user_photo_update")
    assert event.details["source"] == "api"


def test_the_declared_type_is_not_trusted(api, bob):
    response = put(api, bob, image("PNG"), "image/jpeg")  # a PNG said to be a JPEG
    assert response.status_code == 204
    assert api.get(f"/api/v1/users/{bob.pk}/photo")["Content-Type"] == "image/png"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (pdf_renamed(), "The file is not a JPEG or PNG image."),
        (oversized_jpeg(4 * 1024 * 1024), "The file is larger than 4 MB, the most a photo may be."),
        (png_header_only(60000, 60000), "too many pixels"),
        (image(size=(30, 300)), "at least 48×48"),
        (b"", "The file is empty."),
    ],
    ids=["pdf", "oversized", "bomb", "too narrow", "empty"],
)
def test_bad_input_is_a_400_naming_photo_and_nothing_is_stored(api, bob, data, reason):
    response = put(api, bob, data)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid" and list(error["fields"]) == ["photo"]
    assert reason in error["fields"]["photo"][0]
    assert User.objects.get(pk=bob.pk).photo_sha256 == ""
    assert not Event.objects.filter(type="user_photo_update").exists()


def test_a_json_body_is_a_400_saying_to_send_the_image(api, bob):
    response = api.put(f"/api/v1/users/{bob.pk}/photo", {"photo": "x"}, format="json")
    assert response.status_code == 400
    assert "Send the image itself" in error_of(response)["fields"]["photo"][0]


def test_another_declared_type_is_415(api, bob):
    assert put(api, bob, b"hello", "text/plain").status_code == 415


def test_delete_removes_it_and_get_is_then_404_no_photo(api, bob):
    put(api, bob, image())
    assert api.delete(f"/api/v1/users/{bob.pk}/photo").status_code == 204
    response = api.get(f"/api/v1/users/{bob.pk}/photo")
    assert response.status_code == 404 and error_of(response)["code"] == "no_photo"
    assert api.get(f"/api/v1/users/{bob.pk}").json()["has_photo"] is False


def test_the_schema_documents_the_photo_endpoint(api):
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    operations = schema["paths"]["/api/v1/users/{user_id}/photo"]
    assert {"get", "put", "delete"} <= set(operations)
    assert "image/png" in operations["put"]["requestBody"]["content"]
