"""One error shape for the whole API:

    {"error": {"code": "...", "message": "...", "fields": {"field": ["..."]}}}

Validation errors are 400 with code `invalid` (not 422: DRF and most clients expect
400, and one status for all bad input is simpler to handle); conflicts (an email or a
group name already taken) 409; authentication 401; permission 403; missing (or another
organization's) objects 404; a body larger than `DATA_UPLOAD_MAX_MEMORY_SIZE` 413;
unsupported media types 415; over a rate limit 429 (with `Retry-After`); unexpected
failures 500."""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from directory.errors import ServiceError

logger = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
    if isinstance(exc, Http404):
        return Response(error_body("not_found", "Not found."), status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("request_too_large", _too_large_message()),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    response = drf_handler(exc, context)
    if response is None:
        # Not ours to explain: log it with its traceback, answer in the same shape.
        logger.exception("Unhandled error in the API", exc_info=exc)
        return Response(
            error_body("server_error", "Something went wrong on our side."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        flat = _flatten(fields)
        response.data = error_body("invalid", _summary(flat), flat)
        return response
    code = getattr(exc, "default_code", "") or CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        code = "not_authenticated"
    message = str(getattr(exc, "detail", "")) or "Error."
    response.data = error_body(code, message)
    return response


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Unknown paths under /api/ answer in the API's shape, not with an HTML page, for
    every method: exempt from CSRF because there is nothing here a forged request could
    change, and a CSRF 403 page would hide that the path does not exist."""
    return JsonResponse(error_body("not_found", "There is no such API endpoint."), status=404)


def _too_large_message() -> str:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return f"The request body is larger than the {limit:,} bytes the API accepts."


def _summary(fields: dict[str, list[str]]) -> str:
    names = ", ".join(sorted(fields))
    return f"The request is not valid: check {names}." if names else "The request is not valid."


def _flatten(fields) -> dict[str, list[str]]:
    flat = {}
    for name, errors in fields.items():
        if isinstance(errors, dict):
            for sub, sub_errors in _flatten(errors).items():
                flat[f"{name}.{sub}"] = sub_errors
        elif isinstance(errors, list) and errors and isinstance(errors[0], dict):
            for index, item in enumerate(errors):  # a list of nested objects
                for sub, sub_errors in _flatten(item).items():
                    flat[f"{name}.{index}.{sub}"] = sub_errors
        else:
            flat[name] = [str(e) for e in (errors if isinstance(errors, list) else [errors])]
    return flat


# --- the shape, for the OpenAPI schema -----------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Stable, machine-readable: invalid, not_found, email_taken, group_name_taken, ..."
    )
    message = serializers.CharField(help_text="For people to read.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="For validation errors: the messages per field name.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_DESCRIPTIONS = {
    400: "The input is not valid (code `invalid`); `fields` names each bad field.",
    401: "No API key, or a key that is not valid, was revoked, expired, or whose creator "
    "was removed; the message says which.",
    403: "The caller may not do this (for example a member, an owner-only change, a "
    "read-only key's write or a key outside its areas).",
    404: "No such object in the caller's organization (for a list: no such page).",
    409: "Conflicts with existing data (code `email_taken` or `group_name_taken`).",
    413: "The body is larger than the API accepts (code `request_too_large`).",
    415: "The body is not JSON.",
    429: "Too many requests from this key or client address (code `throttled`); the "
    "`Retry-After` header says how many seconds to wait.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error responses of an operation, for `extend_schema(responses=...)`: 401, 403
    and 429 always; an operation that reads a body (415) can also answer 413."""
    codes = {401, 403, 429, *statuses} | ({413} if 415 in statuses else set())
    return {
        code: OpenApiResponse(response=ErrorSerializer, description=_DESCRIPTIONS[code])
        for code in sorted(codes)
    }
