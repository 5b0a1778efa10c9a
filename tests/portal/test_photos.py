"""The portal: the signed-in user sees their avatar (photo or initials) and sets or
removes their own photo; the photo address serves only the signed-in user's own."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from audit.models import Event
from directory import photos
from tests.photo_files import image, png_header_only

from .helpers import reload

HOME = reverse("portal:home")
EDIT = reverse("portal:photo_edit")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def test_home_shows_the_initials_until_a_photo_is_set(client, bob):
    client.force_login(bob)
    page = client.get(HOME).content.decode()
    assert 'data-avatar="initials">' in page and "Add a photo" in page


def test_a_user_sets_their_own_photo_and_sees_it(client, bob):
    client.force_login(bob)
    upload = SimpleUploadedFile("me.png", image("PNG", size=(400, 300)), content_type="image/png")
    response = client.post(EDIT, {"photo": upload})
    assert response.status_code == 302 and response.url == HOME
    bob = reload(bob)
    page = client.get(HOME).content.decode()
    assert f"{reverse('portal:photo', args=[240])}?v={bob.photo_sha256[:12]}" in page
    shown = client.get(reverse("portal:photo", args=[240]))
    assert Image.open(io.BytesIO(b"".join(shown.streaming_content))).size == (240, 240)
    event = Event.objects.get(type="user_photo_update")
    assert event.actor_id == bob.pk and event.details["source"] == "portal"


def test_a_bomb_is_refused_with_the_reason_and_nothing_is_stored(client, bob):
    client.force_login(bob)
    bomb = SimpleUploadedFile("me.png", png_header_only(60000, 60000), content_type="image/png")
    response = client.post(EDIT, {"photo": bomb})
    assert response.status_code == 200
    assert "too many pixels to open safely" in response.content.decode()
    assert reload(bob).photo_sha256 == ""


def test_a_user_removes_their_photo(client, bob):
    photos.user_photo_set(actor=bob, user=bob, data=image())
    client.force_login(bob)
    assert client.post(EDIT, {"remove": "on"}).status_code == 302
    assert reload(bob).photo_sha256 == ""
    assert client.get(reverse("portal:photo", args=[96])).status_code == 404


def test_the_photo_address_serves_only_the_signed_in_users_own(client, alice, bob):
    photos.user_photo_set(actor=alice, user=alice, data=image(colour=(250, 0, 0)))
    client.force_login(bob)
    assert client.get(reverse("portal:photo", args=[96])).status_code == 404
    client.logout()
    response = client.get(reverse("portal:photo", args=[96]))
    assert response.status_code == 302 and "sign-in" in response.url
