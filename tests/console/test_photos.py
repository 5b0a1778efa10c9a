"""Profile photos in the console: avatars (photo or initials) in the users list and on
the user page, an admin changing or removing a photo, its clear errors, the photo served
only to people of the user's organization, and the users list costing no more queries."""

import io

import pytest
from django.urls import reverse
from PIL import Image

from directory import photos
from directory.models import User
from tests.photo_files import image, pdf_renamed

from .conftest import field_errors, make_users
from .test_performance import _queries


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def upload(client, user, data, name="me.jpg", **extra):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        reverse("console:user_photo_edit", args=[user.pk]),
        {"photo": SimpleUploadedFile(name, data, content_type="image/jpeg"), **extra},
    )


def test_the_users_list_shows_a_photo_or_the_initials(alice_client, alice, bob, dave):
    photos.user_photo_set(actor=alice, user=bob, data=image())
    page = alice_client.get(reverse("console:users")).content.decode()
    photo_url = reverse("console:user_photo", args=[bob.pk, 96])
    assert f'src="{photo_url}?v={User.objects.get(pk=bob.pk).photo_sha256[:12]}"' in page
    assert 'data-avatar="initials">DD</span>' in page  # Dave Dunn has no photo


def test_an_admin_sets_a_photo_and_the_user_page_shows_it(alice_client, bob):
    response = upload(alice_client, bob, image("PNG", size=(500, 400)), name="bob.png")
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.photo_sha256
    page = alice_client.get(reverse("console:user_detail", args=[bob.pk])).content.decode()
    assert reverse("console:user_photo", args=[bob.pk, 240]) in page and "Change photo" in page
    shown = alice_client.get(reverse("console:user_photo", args=[bob.pk, 240]))
    assert shown["Content-Type"] == "image/jpeg" and shown["Cache-Control"].startswith("private")
    assert Image.open(io.BytesIO(b"".join(shown.streaming_content))).size == (240, 240)
    again = alice_client.get(
        reverse("console:user_photo", args=[bob.pk, 240]), HTTP_IF_NONE_MATCH=shown["ETag"]
    )
    assert again.status_code == 304


def test_a_bad_file_is_refused_next_to_the_field_and_nothing_changes(alice_client, bob):
    response = upload(alice_client, bob, pdf_renamed(), name="cv.jpg")
    assert response.status_code == 200
    assert field_errors(response, "photo") == ["The file is not a JPEG or PNG image."]
    bob.refresh_from_db()
    assert bob.photo_sha256 == ""


def test_an_admin_removes_a_photo(alice_client, alice, bob):
    photos.user_photo_set(actor=alice, user=bob, data=image())
    response = alice_client.post(
        reverse("console:user_photo_edit", args=[bob.pk]), {"remove": "on"}
    )
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.photo_sha256 == ""
    assert alice_client.get(reverse("console:user_photo", args=[bob.pk, 96])).status_code == 404


def test_no_photo_and_unknown_sizes_are_404(alice_client, alice, bob):
    assert alice_client.get(reverse("console:user_photo", args=[bob.pk, 96])).status_code == 404
    photos.user_photo_set(actor=alice, user=bob, data=image())
    assert alice_client.get(reverse("console:user_photo", args=[bob.pk, 97])).status_code == 404


def test_another_organizations_admin_gets_404_for_a_photo(charlie_client, alice, bob):
    photos.user_photo_set(actor=alice, user=bob, data=image())
    for size in photos.DISPLAY_SIZES:
        url = reverse("console:user_photo", args=[bob.pk, size])
        assert charlie_client.get(url).status_code == 404


def test_the_users_list_runs_the_same_queries_with_photos(alice_client, alice, acme):
    make_users(acme, 60, prefix="a")
    without = _queries(alice_client, {})
    for user in User.objects.filter(organization=acme)[:30]:
        photos.user_photo_set(actor=alice, user=user, data=image(colour=(user.pk % 255, 0, 0)))
    assert _queries(alice_client, {}) == without
