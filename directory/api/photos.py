"""A user's profile photo in the REST API: `GET`, `PUT` (the image as the body) and
`DELETE /api/v1/users/{id}/photo`. Changing it is a user edit (admins and owners); a new
photo is checked by content and pushed to the user's Microsoft 365 account."""

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from directory import photos, selectors
from directory.errors import InvalidInput

from .authentication import request_actor, request_organization
from .errors import error_body, error_responses
from .parsers import StrictJSONParser

USERS = ["users"]
NO_PHOTO = "This user has no photo."
NOT_A_BODY = "Send the image itself as the request body, with Content-Type image/jpeg or image/png."


class PhotoParser(BaseParser):
    """An image body as bytes (its declared type is not trusted: the content is what is
    checked), read up to one byte past the photo limit: enough to tell it is too large,
    without holding a larger body in memory."""

    media_type = "image/*"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        if stream is None:
            return b""
        return stream.read(getattr(settings, "STRATUS_PHOTO_MAX_BYTES", 4 * 1024 * 1024) + 1)


class OctetStreamPhotoParser(PhotoParser):
    media_type = "application/octet-stream"


class UserPhotoApi(APIView):
    # JSON too, so that a JSON body gets a clear 400 naming `photo` (and the CSRF check
    # of a session's POST can read it) rather than a bare 415.
    parser_classes = [PhotoParser, OctetStreamPhotoParser, StrictJSONParser]

    def _user(self, request, user_id: int):
        return selectors.user_get(organization=request_organization(request), pk=user_id)

    @extend_schema(
        tags=USERS,
        summary="Get a user's profile photo",
        description="The photo as it was uploaded or imported (JPEG or PNG).",
        responses={
            (200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY, description="The photo."),
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="The photo."),
            **error_responses(404),
        },
    )
    def get(self, request, user_id: int):
        user = self._user(request, user_id)
        stored = photos.photo_open(user)
        if stored is None:
            return Response(error_body("no_photo", NO_PHOTO), status=status.HTTP_404_NOT_FOUND)
        with stored:
            data = stored.read()
        return HttpResponse(data, content_type=photos.photo_content_type(user.photo.name))

    @extend_schema(
        tags=USERS,
        summary="Set a user's profile photo",
        description="The body is the image itself (`Content-Type: image/jpeg` or "
        "`image/png`). It must be a JPEG or PNG file by content, at most 4 MB, with sides "
        "of 48 to 4096 pixels; otherwise 400 with the reason under `fields.photo` and "
        "nothing is stored. The photo is pushed to the user's Microsoft 365 account "
        "(event `user_photo_update_provision`).",
        request={"image/jpeg": OpenApiTypes.BINARY, "image/png": OpenApiTypes.BINARY},
        responses={
            204: OpenApiResponse(description="Photo stored."),
            **error_responses(400, 404, 415),
        },
    )
    def put(self, request, user_id: int):
        user = self._user(request, user_id)
        data = request.data if isinstance(request.data, bytes) else b""
        if not data and request.data:  # a JSON (or other) document, not an image
            raise InvalidInput.for_field("photo", NOT_A_BODY)
        photos.user_photo_set(actor=request_actor(request), user=user, data=data, source="api")
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        tags=USERS,
        summary="Remove a user's profile photo",
        description="Also removes it from the user's Microsoft 365 account.",
        request=None,
        responses={204: OpenApiResponse(description="Photo removed."), **error_responses(404)},
    )
    def delete(self, request, user_id: int):
        user = self._user(request, user_id)
        photos.user_photo_remove(actor=request_actor(request), user=user, source="api")
        return Response(status=status.HTTP_204_NO_CONTENT)
