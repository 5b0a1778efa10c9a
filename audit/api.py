"""The event log in the REST API: a read-only, filtered, paged list of the caller's
organization's events. Authentication, permissions, paging and the error shape are the
API's defaults (set in settings), so this module needs nothing from the directory."""

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from . import export
from .models import Event
from .selectors import event_list

# The error component the directory's API registers; see directory/api/errors.py.
_ERROR = {"$ref": "#/components/schemas/Error"}
_THROTTLED = "Too many requests from this key or address; `Retry-After` says when to retry."


class EventFilterSerializer(serializers.Serializer):
    type = serializers.CharField(
        required=False, allow_blank=True, help_text="Exact event type, such as `user_create`."
    )
    outcome = serializers.ChoiceField(choices=Event.OUTCOMES, required=False)
    user = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=254,
        help_text="Events about one user: the user's id or email. By email it also finds "
        "the events of a deleted user.",
    )
    tenant = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="Events for one Microsoft 365 tenant: its id (`tenant_ref` on events).",
    )
    actor = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=254,
        help_text="Events made by one actor: a user's id or email, or `system` for scheduled work.",
    )
    target_type = serializers.CharField(
        required=False, allow_blank=True, help_text="`user`, `group`, `api_key`, ..."
    )
    target_id = serializers.CharField(required=False, allow_blank=True)
    since = serializers.DateTimeField(
        required=False,
        help_text="ISO 8601 date or date-time (UTC unless it has an "
        "offset); events at or after this time.",
    )
    until = serializers.DateTimeField(
        required=False,
        help_text="ISO 8601 date or date-time (UTC unless it has an "
        "offset); events before this time.",
    )

    def validate(self, attrs):
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and until <= since:
            raise serializers.ValidationError({"until": ["Must be later than since."]})
        return attrs

    def criteria(self) -> dict:
        """The filters as `audit.selectors.event_list` takes them."""
        criteria = dict(self.validated_data)
        criteria.pop("format", None)
        if "tenant" in criteria:
            criteria["tenant_ref"] = criteria.pop("tenant")
        return criteria


class EventExportFilterSerializer(EventFilterSerializer):
    format = serializers.ChoiceField(
        choices=sorted(export.FORMATS),
        required=False,
        help_text="`csv` or `json`. Without it, an `Accept: text/csv` header asks for CSV; "
        "anything else gets JSON.",
    )


@extend_schema_serializer(component_name="Event")
class EventOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    type = serializers.CharField()
    outcome = serializers.ChoiceField(choices=Event.OUTCOMES)
    actor_id = serializers.IntegerField(
        allow_null=True, help_text="Null for scheduled work or when the actor was deleted."
    )
    actor = serializers.CharField(
        source="actor_label", help_text="The actor's email when it acted, or `system`."
    )
    tenant_ref = serializers.CharField()
    tenant_label = serializers.CharField()
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    target_label = serializers.CharField()
    details = serializers.DictField()
    api_key_id = serializers.IntegerField(
        allow_null=True, help_text="The API or SCIM key the change was made through, if any."
    )
    api_key = serializers.CharField(
        source="api_key_label",
        help_text="That key's name and public prefix (never its secret); empty without a key.",
    )


class EventListApi(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(
        tags=["events"],
        summary="List events",
        parameters=[EventFilterSerializer],
        description="Newest first. Events are append-only; there is no way to change one.",
        responses={
            200: EventOutputSerializer(many=True),
            400: OpenApiResponse(_ERROR, description="A filter is not valid; `fields` names it."),
            401: OpenApiResponse(_ERROR, description="No valid API key or session."),
            403: OpenApiResponse(
                _ERROR, description="Members, or a key without the events area, may not."
            ),
            429: OpenApiResponse(_ERROR, description=_THROTTLED),
            404: OpenApiResponse(_ERROR, description="No such page."),
        },
    )
    def get(self, request):
        filters = EventFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        events = event_list(organization=request.user.organization, **filters.criteria())
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(EventOutputSerializer(page, many=True).data)


class EventExportApi(APIView):
    """The filtered list, all of it, as one streamed download."""

    renderer_classes = [JSONRenderer]  # for errors; the export itself is streamed

    def perform_content_negotiation(self, request, force=False):
        # `format` names the export's format here, not one of DRF's renderers (which
        # would answer ?format=csv with 404); errors are always JSON.
        renderer = self.renderer_classes[0]()
        return renderer, renderer.media_type

    @extend_schema(
        tags=["events"],
        summary="Export events",
        parameters=[EventExportFilterSerializer],
        description=(
            "Every event that matches the filters (the same as for listing), newest first, "
            "as a CSV or JSON download streamed as it is read, whatever its size. CSV has a "
            "header row: `id, time, type, outcome, actor, tenant_id, tenant, target_type, "
            "target_id, target_label, details` with times in ISO 8601 UTC and details as "
            "JSON; a cell that a spreadsheet would run as a formula (starting with `=`, `+`, "
            "`-` or `@`) starts with `'`. JSON is an array of events shaped as in the list."
        ),
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The events."),
            (200, "application/json"): OpenApiResponse(
                EventOutputSerializer(many=True), description="The events."
            ),
            400: OpenApiResponse(_ERROR, description="A filter is not valid; `fields` names it."),
            401: OpenApiResponse(_ERROR, description="No valid API key or session."),
            403: OpenApiResponse(
                _ERROR, description="Members, or a key without the events area, may not."
            ),
            429: OpenApiResponse(_ERROR, description=_THROTTLED),
        },
    )
    def get(self, request):
        filters = EventExportFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        format = filters.validated_data.get("format") or _format_from_accept(request)
        organization = request.user.organization
        return export.event_export_response(
            events=event_list(organization=organization, **filters.criteria()),
            format=format,
            filename=export.export_filename(organization=organization),
        )


def _format_from_accept(request) -> str:
    return "csv" if "text/csv" in request.headers.get("Accept", "") else "json"


urlpatterns = [
    path("events", EventListApi.as_view(), name="api-events"),
    path("events/export", EventExportApi.as_view(), name="api-events-export"),
]
