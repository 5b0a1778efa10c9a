"""Profile photos (I5): checked by content, stored through Django's storage API with
their display sizes, and announced to bridges when they change.

A photo is checked before anything is written: Pillow must recognise it as JPEG or PNG
(whatever its name or declared type), it must fit `STRATUS_PHOTO_MAX_BYTES` (4 MB, what
Microsoft 365 accepts) and its sides must lie between `STRATUS_PHOTO_MIN_SIDE` and
`STRATUS_PHOTO_MAX_SIDE` pixels, read from the header before any pixel is decoded (so a
decompression bomb is refused unopened), and it must then decode completely. The
original is kept as uploaded (it is what Microsoft receives); square JPEG renditions of
`DISPLAY_SIZES` pixels are what the console and the portal show. Files are named by the
photo's SHA-256, so a new photo never overwrites the old one before its row commits;
the old files are deleted after commit."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image, ImageOps, UnidentifiedImageError

from audit.services import event_record

from . import hooks
from .errors import InvalidInput
from .models import User

FIELD = "photo"
DISPLAY_SIZES = (96, 240)
TYPES = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png")}
NOT_AN_IMAGE = "The file is not a JPEG or PNG image."


@dataclass(frozen=True)
class CheckedPhoto:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _limits() -> tuple[int, int, int]:
    return (
        getattr(settings, "STRATUS_PHOTO_MAX_BYTES", 4 * 1024 * 1024),
        getattr(settings, "STRATUS_PHOTO_MIN_SIDE", 48),
        getattr(settings, "STRATUS_PHOTO_MAX_SIDE", 4096),
    )


def _refuse(message: str) -> InvalidInput:
    return InvalidInput.for_field(FIELD, message)


def photo_check(data: bytes) -> CheckedPhoto:
    """The photo if Stratus (and Microsoft 365) would take it, else InvalidInput naming
    the field `photo` and the reason."""
    max_bytes, min_side, max_side = _limits()
    if not data:
        raise _refuse("The file is empty.")
    if len(data) > max_bytes:
        raise _refuse(
            f"The file is larger than {max_bytes / 1024 / 1024:g} MB, the most a photo may be."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind, (width, height) = image.format, image.size
                if kind not in TYPES:
                    raise _refuse(NOT_AN_IMAGE)
                _check_sides(width, height, min_side, max_side)
                image.load()  # the whole file decodes: not truncated, not a disguise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refuse(
            f"The image has too many pixels to open safely; a photo may be at most "
            f"{max_side}×{max_side} pixels."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise _refuse(NOT_AN_IMAGE) from None
    content_type, extension = TYPES[kind]
    return CheckedPhoto(data, content_type, extension, width, height)


def _check_sides(width: int, height: int, min_side: int, max_side: int) -> None:
    if min(width, height) < min_side or max(width, height) > max_side:
        raise _refuse(
            f"The image is {width}×{height} pixels; a photo must be at least "
            f"{min_side}×{min_side} and at most {max_side}×{max_side} pixels."
        )


def rendition(photo: CheckedPhoto, size: int) -> bytes:
    """A square JPEG of `size` pixels, centred, upright (EXIF), on white where the
    original is transparent."""
    with Image.open(io.BytesIO(photo.data)) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "P"):
            image = image.convert("RGBA")
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.getchannel("A"))
            image = background
        square = ImageOps.fit(image.convert("RGB"), (size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    square.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


# --- where the files are -------------------------------------------------------------


def original_name(user: User, photo: CheckedPhoto) -> str:
    return f"photos/{user.organization_id}/{user.pk}/{photo.sha256}.{photo.extension}"


def display_name_for(name: str, size: int) -> str:
    """The file of one display size, beside its original."""
    return f"{name.rsplit('.', 1)[0]}.{size}.jpg"


def photo_files(name: str) -> list[str]:
    return [name, *(display_name_for(name, size) for size in DISPLAY_SIZES)] if name else []


def _files_write(user: User, photo: CheckedPhoto) -> str:
    name = original_name(user, photo)
    written = []
    try:
        for target, content in [
            (name, photo.data),
            *((display_name_for(name, size), rendition(photo, size)) for size in DISPLAY_SIZES),
        ]:
            if not default_storage.exists(target):
                written.append(default_storage.save(target, ContentFile(content)))
    except Exception:
        _files_delete(written)
        raise
    return name


def _files_delete(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:  # already gone: nothing to clean up
            pass


def photo_open(user: User, size: int | None = None):
    """The stored file of a user's photo (`size`: one of DISPLAY_SIZES, None for the
    original), or None when the user has none."""
    if not user.photo.name:
        return None
    name = user.photo.name if size is None else display_name_for(user.photo.name, size)
    try:
        return default_storage.open(name, "rb")
    except FileNotFoundError:
        return None


def photo_files_delete(name: str) -> None:
    """Delete a photo's files (its original and display sizes), e.g. after its user."""
    _files_delete(photo_files(name))


def photo_content_type(name: str) -> str:
    return "image/png" if name.endswith(".png") else "image/jpeg"


# --- services ------------------------------------------------------------------------


def user_photo_set(*, actor: User | None, user: User, data: bytes, source: str = "") -> User:
    """Check and store a new photo for `user`, record `user_photo_update` and announce
    it (bridges push it). Bad input raises InvalidInput before anything is stored; the
    same photo again changes nothing."""
    photo = photo_check(data)
    if photo.sha256 == user.photo_sha256:
        return user
    name = _files_write(user, photo)
    try:
        return _photo_record(actor=actor, user=user, name=name, photo=photo, source=source)
    except Exception:
        if name != user.photo.name:
            _files_delete(photo_files(name))
        raise


@transaction.atomic
def _photo_record(*, actor, user: User, name: str, photo: CheckedPhoto, source: str) -> User:
    old = user.photo.name
    user.photo.name, user.photo_sha256 = name, photo.sha256
    user.save(update_fields=["photo", "photo_sha256"])
    event_record(
        organization=user.organization,
        type="user_photo_update",
        actor=actor,
        target=user,
        details={
            "source": source,
            "content_type": photo.content_type,
            "width": photo.width,
            "height": photo.height,
            "bytes": len(photo.data),
        },
    )
    _announce(actor, user)
    if old and old != name:
        transaction.on_commit(lambda: _files_delete(photo_files(old)))
    return user


@transaction.atomic
def user_photo_remove(*, actor: User | None, user: User, source: str = "") -> User:
    """Remove a user's photo (and its files, after commit); announced like a change."""
    old = user.photo.name
    if not old:
        return user
    user.photo.name, user.photo_sha256 = "", ""
    user.save(update_fields=["photo", "photo_sha256"])
    event_record(
        organization=user.organization,
        type="user_photo_remove",
        actor=actor,
        target=user,
        details={"source": source},
    )
    _announce(actor, user)
    transaction.on_commit(lambda: _files_delete(photo_files(old)))
    return user


def _announce(actor, user: User) -> None:
    hooks.announce(
        hooks.DirectoryChange(
            kind=hooks.USER_PHOTO_CHANGED,
            organization_id=user.organization_id,
            actor_id=getattr(actor, "pk", None),
            user_id=user.pk,
            changed_fields=frozenset({"photo"}),
        )
    )
