"""One error shape for the whole API:

    {"error": {"code": "...", "message": "...", "fields": {"field": ["..."]}}}

Validation errors are 400 with code `invalid`; conflicts 409; authentication 401;
permission 403; missing (or another organization's) objects 404."""

from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from directory.errors import ServiceError


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
    if isinstance(exc, Http404):
        return Response(error_body("not_found", "Not found."), status=status.HTTP_404_NOT_FOUND)
    response = drf_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body("invalid", "The request is not valid.", _flatten(fields))
        return response
    code = {
        401: "not_authenticated", 403: "permission_denied", 404: "not_found",
        405: "method_not_allowed", 429: "throttled",
    }.get(response.status_code, getattr(exc, "default_code", "error"))
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        code = "not_authenticated"
    message = str(getattr(exc, "detail", "")) or "Error."
    response.data = error_body(code, message)
    return response


def _flatten(fields) -> dict[str, list[str]]:
    flat = {}
    for name, errors in fields.items():
        if isinstance(errors, dict):
            for sub, sub_errors in _flatten(errors).items():
                flat[f"{name}.{sub}"] = sub_errors
        else:
            flat[name] = [str(e) for e in (errors if isinstance(errors, list) else [errors])]
    return flat
