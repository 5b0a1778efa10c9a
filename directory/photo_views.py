"""What the console and the portal share about profile photos: serving a display size
to someone already allowed to see that user (never a public media URL), and the form
that sets or removes one."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse

from . import photos
from .errors import ServiceError
from .models import User


class PhotoForm(forms.Form):
    photo = forms.FileField(
        required=False,
        label="New photo",
        help_text="A JPEG or PNG file of at most 4 MB, at least 48×48 pixels. It is also "
        "shown in Microsoft 365.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png"}),
    )
    remove = forms.BooleanField(required=False, label="Remove the photo")


def photo_response(request, user: User, size: int) -> HttpResponse:
    """One display size of `user`'s photo (the caller checked who may see it); 404 when
    there is none. Cached privately, revalidated by the photo's hash."""
    if size not in photos.DISPLAY_SIZES:
        raise Http404("No such photo size.")
    etag = f'"{user.photo_sha256[:16]}-{size}"'
    if user.photo_sha256 and request.headers.get("If-None-Match") == etag:
        return HttpResponse(status=304, headers={"ETag": etag})
    stored = photos.photo_open(user, size)
    if stored is None:
        raise Http404("No photo.")
    response = FileResponse(stored, content_type="image/jpeg")
    response["ETag"] = etag
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def uploaded_bytes(upload) -> bytes:
    """At most one byte more than a photo may be: enough to tell it is too large."""
    return upload.read(getattr(settings, "STRATUS_PHOTO_MAX_BYTES", 4 * 1024 * 1024) + 1)


def photo_form_submit(request, *, actor: User, user: User, source: str) -> tuple[PhotoForm, str]:
    """Handle the photo form: returns it (with field errors) and what was done ("set",
    "removed" or "" when nothing was)."""
    form = PhotoForm(request.POST or None, request.FILES or None)
    if request.method != "POST" or not form.is_valid():
        return form, ""
    upload = form.cleaned_data["photo"]
    try:
        if upload:
            photos.user_photo_set(
                actor=actor, user=user, data=uploaded_bytes(upload), source=source
            )
            return form, "set"
        if form.cleaned_data["remove"]:
            photos.user_photo_remove(actor=actor, user=user, source=source)
            return form, "removed"
    except ServiceError as error:
        for field, messages in error.fields.items():
            for message in messages:
                form.add_error(field if field in form.fields else None, message)
        return form, ""
    form.add_error("photo", "Choose a JPEG or PNG file, or tick “Remove the photo”.")
    return form, ""
