"""Profile photos in the directory (I5): checked by content before anything is stored,
kept through Django's storage API with their display sizes, announced once, and
removed with their files."""

import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from audit.models import Event
from directory import hooks, photos
from directory.errors import InvalidInput
from tests.photo_files import (
    image,
    oversized_jpeg,
    pdf_renamed,
    png_header_only,
    truncated_jpeg,
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def announced():
    seen = []
    hooks.subscribe(seen.append)
    yield seen
    hooks._subscribers.remove(seen.append)


def stored_files(media) -> list[str]:
    return sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file())


BAD = {
    "oversized": (lambda: oversized_jpeg(4 * 1024 * 1024), "larger than 4 MB"),
    "pdf renamed .jpg": (pdf_renamed, "not a JPEG or PNG image"),
    "gif": (lambda: image("GIF"), "not a JPEG or PNG image"),
    "decompression bomb": (lambda: png_header_only(60000, 60000), "too many pixels"),
    "huge sides": (lambda: png_header_only(5000, 300), "at most 4096×4096"),
    "tiny": (lambda: image(size=(20, 20)), "at least 48×48"),
    "truncated": (truncated_jpeg, "not a JPEG or PNG image"),
    "empty": (lambda: b"", "The file is empty."),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(
    case, alice, bob, media, announced
):
    make, reason = BAD[case]
    events = Event.objects.count()
    with pytest.raises(InvalidInput) as refused:
        photos.user_photo_set(actor=alice, user=bob, data=make())
    assert list(refused.value.fields) == ["photo"]
    assert reason in refused.value.fields["photo"][0]
    bob.refresh_from_db()
    assert (bob.photo.name, bob.photo_sha256) == ("", "")
    assert stored_files(media) == [] and Event.objects.count() == events and announced == []


def test_a_photo_is_stored_with_square_display_sizes_an_event_and_one_announcement(
    alice, bob, media, announced
):
    data = image("PNG", size=(300, 200))
    photos.user_photo_set(actor=alice, user=bob, data=data, source="console")
    bob.refresh_from_db()
    assert bob.photo.name.endswith(".png") and len(bob.photo_sha256) == 64
    with default_storage.open(bob.photo.name, "rb") as original:
        assert original.read() == data
    for size in photos.DISPLAY_SIZES:
        with photos.photo_open(bob, size) as shown:
            rendered = Image.open(io.BytesIO(shown.read()))
            assert (rendered.format, rendered.size) == ("JPEG", (size, size))
    event = Event.objects.get(type="user_photo_update")
    assert event.details["source"] == "console" and event.details["content_type"] == "image/png"
    assert [c.kind for c in announced] == [hooks.USER_PHOTO_CHANGED]
    assert len(stored_files(media)) == 3


def test_the_same_photo_again_changes_nothing(alice, bob, announced):
    data = image()
    photos.user_photo_set(actor=alice, user=bob, data=data)
    photos.user_photo_set(actor=alice, user=bob, data=data)
    assert Event.objects.filter(type="user_photo_update").count() == 1
    assert len(announced) == 1


def test_a_new_photo_replaces_the_files_of_the_old_one_after_commit(
    alice, bob, media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        photos.user_photo_set(actor=alice, user=bob, data=image(colour=(1, 2, 3)))
    first = bob.photo.name
    with django_capture_on_commit_callbacks(execute=True):
        photos.user_photo_set(actor=alice, user=bob, data=image(colour=(9, 9, 9)))
    assert bob.photo.name != first and not default_storage.exists(first)
    assert len(stored_files(media)) == 3


def test_removing_deletes_the_files_records_and_announces(
    alice, bob, media, announced, django_capture_on_commit_callbacks
):
    photos.user_photo_set(actor=alice, user=bob, data=image())
    with django_capture_on_commit_callbacks(execute=True):
        photos.user_photo_remove(actor=alice, user=bob, source="api")
    bob.refresh_from_db()
    assert bob.photo.name == "" and photos.photo_open(bob, 96) is None
    assert stored_files(media) == []
    assert Event.objects.filter(type="user_photo_remove").exists()
    assert len(announced) == 2


def test_initials_stand_in_for_a_missing_photo(bob):
    bob.display_name, bob.first_name, bob.last_name = "", "Bob", "baker"
    assert bob.initials == "BB"
    bob.first_name = bob.last_name = ""
    assert bob.email == "bob@acme.example" and bob.initials == "BA"


def test_deleting_a_user_deletes_their_photo_files(
    alice, bob, media, django_capture_on_commit_callbacks
):
    from directory import services

    photos.user_photo_set(actor=alice, user=bob, data=image())
    assert len(stored_files(media)) == 3
    with django_capture_on_commit_callbacks(execute=True):
        services.user_delete(actor=alice, user=bob)
    assert stored_files(media) == []
