"""The event log in the REST API: a read-only, filtered, paged list of the caller's
organization's events. Authentication, permissions, paging and the error shape are the
API's defaults (set in settings), so this module needs nothing from the directory."""

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from .models import Event
from .selectors import event_list

# The error component the directory's API registers; see directory/api/errors.py.
_ERROR = {"$ref": "#/components/schemas/Error"}


class EventFilterSerializer(serializers.Serializer):
    type = serializers.CharField(required=False, allow_blank=True,
                                 help_text="Exact event type, such as `user_create`.")
    outcome = serializers.ChoiceField(choices=Event.OUTCOMES, required=False)
    target_type = serializers.CharField(required=False, allow_blank=True,
                                        help_text="`user`, `group`, `api_key`, ...")
    target_id = serializers.CharField(required=False, allow_blank=True)
    since = serializers.DateTimeField(required=False,
                                      help_text="ISO 8601; events at or after this time.")
    until = serializers.DateTimeField(required=False,
                                      help_text="ISO 8601; events before this time.")

    def validate(self, attrs):
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and until <= since:
            raise serializers.ValidationError({"until": ["Must be later than since."]})
        return attrs


@extend_schema_serializer(component_name="Event")
class EventOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    type = serializers.CharField()
    outcome = serializers.ChoiceField(choices=Event.OUTCOMES)
    actor_id = serializers.IntegerField(allow_null=True, help_text="Null for scheduled work "
                                        "or when the actor was deleted.")
    actor = serializers.CharField(source="actor_label",
                                  help_text="The actor's email when it acted, or `system`.")
    tenant_ref = serializers.CharField()
    tenant_label = serializers.CharField()
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    target_label = serializers.CharField()
    details = serializers.DictField()


class EventListApi(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(
        tags=["events"], summary="List events", parameters=[EventFilterSerializer],
        description="Newest first. Events are append-only; there is no way to change one.",
        responses={
            200: EventOutputSerializer(many=True),
            400: OpenApiResponse(_ERROR, description="A filter is not valid; `fields` names it."),
            401: OpenApiResponse(_ERROR, description="No valid API key or session."),
            403: OpenApiResponse(_ERROR, description="Members may not use the API."),
        },
    )
    def get(self, request):
        filters = EventFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        events = event_list(organization=request.user.organization, **filters.validated_data)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(EventOutputSerializer(page, many=True).data)


urlpatterns = [
    path("events", EventListApi.as_view(), name="api-events"),
]
