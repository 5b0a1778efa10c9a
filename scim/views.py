"""The SCIM 2.0 endpoints (RFC 7644), thin: authenticate the organization's SCIM key,
validate the body with scim2-models against the published schemas, read through
`scim.selectors` (scoped to the key's organization: another organization's resource is
a 404) and write through `scim.services`. Every error leaves in SCIM's error shape."""

import json
from functools import wraps

from django.db import transaction
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError
from scim2_models import Context, ListResponse, PatchOp, ResponseParameters, SearchRequest

from . import resources, schemas, selectors, services
from .authentication import scim_caller
from .errors import CONTENT_TYPE, ScimError, response_for

LIST_SCHEMA = str(ListResponse.__schema__)


def scim_endpoint(*methods):
    """Authenticate, allow only `methods`, and answer every failure as a SCIM error."""

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                caller = scim_caller(request)
                if request.method not in methods:
                    raise ScimError(405, f"{request.method} is not supported here.")
                return view(request, caller, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every failure leaves as a SCIM error
                return response_for(exc)

        return wrapper

    return decorate


def _json(payload, *, status=200, headers=None) -> HttpResponse:
    response = HttpResponse(json.dumps(payload), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _body(request) -> dict:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ScimError(400, "The body is not valid JSON.", "invalidSyntax") from None
    if not isinstance(body, dict):
        raise ScimError(400, "The body must be a JSON object.", "invalidSyntax")
    return body


def _response_parameters(request, params=None) -> ResponseParameters:
    params = request.GET if params is None else params

    def names(key):
        value = params.get(key) or ""
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        return [name.strip() for name in value.split(",") if name.strip()] or None

    try:
        return ResponseParameters(
            attributes=names("attributes"), excluded_attributes=names("excludedAttributes")
        )
    except ValidationError as exc:
        raise ScimError(
            400, f"attributes/excludedAttributes: {exc.errors()[0]['msg']}", "invalidValue"
        ) from None


def _base_url(request) -> str:
    return request.build_absolute_uri("/scim/v2")


def _resource_response(request, resource, *, context, status=200) -> HttpResponse:
    payload = resource.model_dump(
        scim_ctx=context, response_parameters=_response_parameters(request)
    )
    headers = {"ETag": resource.meta.version}
    if status == 201:
        headers["Location"] = resource.meta.location
    return _json(payload, status=status, headers=headers)


def _check_if_match(request, resource) -> None:
    expected = request.headers.get("If-Match")
    if expected and expected.strip() != "*" and resource.meta.version not in _tags(expected):
        raise ScimError(412, "The resource changed since the version given in If-Match.")


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",")]


def _not_modified(request, resource) -> bool:
    given = request.headers.get("If-None-Match")
    return bool(given) and resource.meta.version in _tags(given)


def _list_response(request, page, build, params=None) -> HttpResponse:
    parameters = _response_parameters(request, params)
    resources_ = [
        build(item).model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=parameters)
        for item in page.items
    ]
    payload = {
        "schemas": [LIST_SCHEMA],
        "totalResults": page.total,
        "startIndex": page.start_index,
        "itemsPerPage": len(resources_),
        "Resources": resources_,
    }
    return _json(payload)


# --- discovery ------------------------------------------------------------------------


def _dump(obj) -> dict:
    return obj.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def _listed(items) -> HttpResponse:
    return _json(
        {
            "schemas": [LIST_SCHEMA],
            "totalResults": len(items),
            "startIndex": 1,
            "itemsPerPage": len(items),
            "Resources": [_dump(item) for item in items],
        }
    )


@scim_endpoint("GET")
def service_provider_config(request, caller):
    return _json(_dump(schemas.service_provider_config()))


@scim_endpoint("GET")
def resource_type_list(request, caller):
    return _listed(schemas.resource_types())


@scim_endpoint("GET")
def resource_type_detail(request, caller, name):
    return _one(schemas.resource_types(), name, "resource type")


@scim_endpoint("GET")
def schema_list(request, caller):
    return _listed(schemas.schemas())


@scim_endpoint("GET")
def schema_detail(request, caller, name):
    return _one(schemas.schemas(), name, "schema")


def _one(items, name, kind) -> HttpResponse:
    for item in items:
        if item.id == name:
            return _json(_dump(item))
    raise ScimError(404, f"No such {kind}: {name}.")


@scim_endpoint("POST")
def search_all(request, caller):
    raise ScimError(501, "Search Users or Groups: POST /Users/.search or /Groups/.search.")


@scim_endpoint("GET", "POST", "PUT", "PATCH", "DELETE")
def unknown(request, caller, path=""):
    raise ScimError(404, "There is no such SCIM endpoint.")


def _search_params(request) -> dict:
    """A POST .search body (RFC 7644 §3.4.3) as the query parameters of a GET."""
    body = _body(request)
    search = SearchRequest.model_validate(body, scim_ctx=Context.SEARCH_REQUEST)
    params = {
        "filter": body.get("filter"),
        "sortBy": body.get("sortBy"),
        "sortOrder": body.get("sortOrder"),
        "startIndex": search.start_index,
        "count": search.count,
        "attributes": body.get("attributes"),
        "excludedAttributes": body.get("excludedAttributes"),
    }
    return {key: value for key, value in params.items() if value is not None}


@scim_endpoint("POST")
def user_search(request, caller):
    base = _base_url(request)
    params = _search_params(request)
    page = selectors.scim_user_page(organization=caller.organization, params=params)
    return _list_response(
        request, page, lambda u: resources.user_resource(u, base_url=base), params
    )


@scim_endpoint("POST")
def group_search(request, caller):
    base = _base_url(request)
    params = _search_params(request)
    page = selectors.scim_group_page(organization=caller.organization, params=params)
    return _list_response(
        request, page, lambda g: resources.group_resource(g, base_url=base), params
    )


# --- users ----------------------------------------------------------------------------


@scim_endpoint("GET", "POST")
def user_list(request, caller):
    base = _base_url(request)
    if request.method == "GET":
        page = selectors.scim_user_page(organization=caller.organization, params=request.GET)
        return _list_response(request, page, lambda u: resources.user_resource(u, base_url=base))
    body = _body(request)
    body.setdefault("active", True)
    resource = schemas.user_model().model_validate(body, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    user = services.scim_user_create(caller=caller, changes=resources.user_changes(resource))
    user = selectors.scim_user_get(organization=caller.organization, pk=str(user.pk))
    return _resource_response(
        request,
        resources.user_resource(user, base_url=base),
        context=Context.RESOURCE_CREATION_RESPONSE,
        status=201,
    )


def _read_response(request, resource):
    """A resource as read: 304 when the client's `If-None-Match` already has this
    version, else the resource with its ETag."""
    if _not_modified(request, resource):
        return HttpResponse(status=304, headers={"ETag": resource.meta.version})
    return _resource_response(request, resource, context=Context.RESOURCE_QUERY_RESPONSE)


@scim_endpoint("GET", "PUT", "PATCH", "DELETE")
def user_detail(request, caller, pk):
    base = _base_url(request)
    organization = caller.organization
    if request.method == "GET":
        user = selectors.scim_user_get(organization=organization, pk=pk)
        return _read_response(request, resources.user_resource(user, base_url=base))
    with transaction.atomic():
        user = selectors.scim_user_get(organization=organization, pk=pk, lock=True)
        current = resources.user_resource(user, base_url=base)
        _check_if_match(request, current)
        if request.method == "DELETE":
            services.scim_user_delete(caller=caller, user=user)
            return HttpResponse(status=204)
        if request.method == "PUT":
            body = _body(request)
            body.setdefault("active", current.active)
            wanted = schemas.user_model().model_validate(
                body, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST
            )
            context = Context.RESOURCE_REPLACEMENT_RESPONSE
        else:
            wanted = _patched(request, current, schemas.user_model())
            context = Context.RESOURCE_PATCH_RESPONSE
        services.scim_user_apply(caller=caller, user=user, changes=resources.user_changes(wanted))
    user = selectors.scim_user_get(organization=organization, pk=pk)
    return _resource_response(
        request, resources.user_resource(user, base_url=base), context=context
    )


def _patched(request, current, model):
    patch = PatchOp[model].model_validate(_body(request), scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    patch.patch(current)
    return current


# --- groups ---------------------------------------------------------------------------


@scim_endpoint("GET", "POST")
def group_list(request, caller):
    base = _base_url(request)
    if request.method == "GET":
        page = selectors.scim_group_page(organization=caller.organization, params=request.GET)
        return _list_response(request, page, lambda g: resources.group_resource(g, base_url=base))
    resource = schemas.group_model().model_validate(
        _body(request), scim_ctx=Context.RESOURCE_CREATION_REQUEST
    )
    group = services.scim_group_create(caller=caller, changes=resources.group_changes(resource))
    return _resource_response(
        request,
        resources.group_resource(group, base_url=base),
        context=Context.RESOURCE_CREATION_RESPONSE,
        status=201,
    )


@scim_endpoint("GET", "PUT", "PATCH", "DELETE")
def group_detail(request, caller, pk):
    base = _base_url(request)
    organization = caller.organization
    if request.method == "GET":
        group = selectors.scim_group_get(organization=organization, pk=pk)
        return _read_response(request, resources.group_resource(group, base_url=base))
    with transaction.atomic():
        group = selectors.scim_group_get(organization=organization, pk=pk, lock=True)
        current = resources.group_resource(group, base_url=base)
        _check_if_match(request, current)
        if request.method == "DELETE":
            services.scim_group_delete(caller=caller, group=group)
            return HttpResponse(status=204)
        if request.method == "PUT":
            wanted = schemas.group_model().model_validate(
                _body(request), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST
            )
            context = Context.RESOURCE_REPLACEMENT_RESPONSE
        else:
            wanted = _patched(request, current, schemas.group_model())
            context = Context.RESOURCE_PATCH_RESPONSE
        group = services.scim_group_apply(
            caller=caller, group=group, changes=resources.group_changes(wanted)
        )
    group = selectors.scim_group_get(organization=organization, pk=pk)
    return _resource_response(
        request, resources.group_resource(group, base_url=base), context=context
    )
