"""The shape of a preview (dry run) in the REST API: `?dry_run=true` on the bind and
sync endpoints returns what would be sent instead of doing it (`services.preview`)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import serializers

from directory.errors import InvalidInput

from ..sync.preview import ACTIONS

DRY_RUN = OpenApiParameter(
    "dry_run",
    OpenApiTypes.BOOL,
    OpenApiParameter.QUERY,
    description="true: return what would be sent to Microsoft 365 (read from it, "
    "written nowhere) instead of doing it.",
)


@extend_schema_field(OpenApiTypes.ANY)
class AnyValueField(serializers.Field):
    def to_representation(self, value):
        return value


class ChangeSerializer(serializers.Serializer):
    old = AnyValueField(allow_null=True, help_text="What Microsoft 365 holds now.")
    new = AnyValueField(allow_null=True, help_text="What Stratus would send.")


class PreviewItemSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(allow_null=True)
    email = serializers.CharField(allow_blank=True)
    action = serializers.ChoiceField(choices=list(ACTIONS))
    changes = serializers.DictField(child=ChangeSerializer())
    password_set = serializers.BooleanField(help_text="A password would be set (never shown).")
    message = serializers.CharField(allow_blank=True)
    members_added = serializers.ListField(
        child=serializers.CharField(),
        help_text="A security group's members that would be added (the first 100; "
        "totals.members_added counts them all).",
    )
    members_removed = serializers.ListField(child=serializers.CharField())


class GroupsPreviewSerializer(serializers.Serializer):
    totals = serializers.DictField(child=serializers.IntegerField())
    items = PreviewItemSerializer(many=True)


class PreviewSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    totals = serializers.DictField(child=serializers.IntegerField())
    reads = serializers.IntegerField(help_text="Graph reads the preview made.")
    items = PreviewItemSerializer(many=True)
    groups = GroupsPreviewSerializer(
        allow_null=True,
        help_text="Sync preview only: the group bindings with changes waiting, planned "
        "after the accounts as the sync does (null when there are none, or for a bind).",
    )


def dry_run_asked(request) -> bool:
    value = request.query_params.get("dry_run")
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise InvalidInput.for_field("dry_run", "Must be true or false.")


def preview_data(preview) -> dict:
    groups = preview.groups
    return PreviewSerializer(
        {
            "dry_run": True,
            "totals": preview.totals,
            "reads": preview.reads,
            "items": preview.items,
            "groups": {"totals": groups.totals, "items": groups.items} if groups else None,
        }
    ).data
