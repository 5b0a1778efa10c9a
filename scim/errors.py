"""Every SCIM error has RFC 7644's shape (§3.12): `schemas`, `status`, `scimType` where
one applies, and `detail` for people. Services' errors, scim2-models' validation errors
and missing objects are all turned into it here, once."""

import json
import logging

from django.http import Http404, HttpResponse
from pydantic import ValidationError
from scim2_models import Error, SCIMException

from directory.errors import Conflict, NotAllowed, ServiceError

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/scim+json"

# pydantic's own error types that mean "the body does not follow the schema" rather
# than "a value is wrong".
_SYNTAX_ERRORS = {"extra_forbidden", "json_invalid", "model_type", "model_attributes_type"}


class ScimError(Exception):
    """An error to answer with as is."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None, *, retry_after=None):
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type
        self.retry_after = retry_after  # seconds, for a 429


def error_response(status: int, detail: str, scim_type: str | None = None) -> HttpResponse:
    body = Error(status=status, scim_type=scim_type, detail=detail).model_dump()
    return HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)


def response_for(exc: Exception) -> HttpResponse:
    if isinstance(exc, ScimError):
        response = error_response(exc.status, exc.detail, exc.scim_type)
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, SCIMException):
        error = exc.to_error()
        return error_response(int(error.status), error.detail, error.scim_type)
    if isinstance(exc, ValidationError):
        return error_response(400, _validation_detail(exc), _validation_scim_type(exc))
    if isinstance(exc, Http404):
        return error_response(404, str(exc) or "Not found.")
    if isinstance(exc, ServiceError):
        return _service_error(exc)
    # Not ours to explain: log it with its traceback, answer in the same shape.
    logger.error("Unhandled error in the SCIM server", exc_info=exc)
    return error_response(500, "Something went wrong on our side.")


def _service_error(exc: ServiceError) -> HttpResponse:
    detail = exc.message
    for name, messages in exc.fields.items():
        detail += f" {_scim_name(name)}: {' '.join(messages)}"
    if isinstance(exc, Conflict):
        return error_response(409, detail, "uniqueness")
    if isinstance(exc, NotAllowed):
        return error_response(403, detail)
    return error_response(400, detail, "invalidValue")


# Directory field names in service errors → the SCIM attribute a client sent.
_NAMES = {
    "email": "userName",
    "first_name": "name.givenName",
    "last_name": "name.familyName",
    "display_name": "displayName",
    "job_title": "title",
    "employee_id": "employeeNumber",
    "department": "department",
    "company_name": "organization",
    "name": "displayName",
}


def _scim_name(field: str) -> str:
    return _NAMES.get(field, field)


def _validation_scim_type(exc: ValidationError) -> str:
    errors = exc.errors()
    for error in errors:
        scim_type = (error.get("ctx") or {}).get("scim_type")
        if scim_type:
            return scim_type
    if any(error["type"] in _SYNTAX_ERRORS for error in errors):
        return "invalidSyntax"
    return "invalidValue"


def _validation_detail(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:10]:
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown attribute (not in this service's schema)"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "The request is not valid."
