"""Serializers shared by the API's views. Output serializers say exactly what leaves
the service (never a password hash or a key); input serializers check shapes and
types, and refuse fields they do not know, while the rules live in the services."""

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from directory.models import User
from directory.services import PROFILE_FIELDS


class InputSerializer(serializers.Serializer):
    """Refuses unknown fields, so a typo (`firstname`) is an error instead of a no-op."""

    def validate(self, attrs):
        unknown = (
            sorted(set(self.initial_data) - set(self.fields))
            if isinstance(self.initial_data, dict)
            else []
        )
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs


def profile_fields(*, required: bool = False) -> dict[str, serializers.Field]:
    """Input fields for the synced profile attributes, limits taken from the model."""
    fields = {}
    for name in PROFILE_FIELDS:
        if name == "business_phones":
            fields[name] = serializers.ListField(
                child=serializers.CharField(max_length=64, allow_blank=True),
                max_length=1,
                required=required,
                help_text="At most one number; Microsoft 365 keeps one business phone.",
            )
        else:
            fields[name] = serializers.CharField(
                max_length=User._meta.get_field(name).max_length,
                allow_blank=True,
                required=required,
                trim_whitespace=True,
                help_text="ISO 3166 alpha-2 country code." if name == "usage_location" else "",
            )
    return fields


@extend_schema_serializer(component_name="User")
class UserOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=User.ROLES)
    status = serializers.ChoiceField(choices=User.STATUSES)
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    display_name = serializers.CharField()
    job_title = serializers.CharField()
    department = serializers.CharField()
    employee_id = serializers.CharField()
    company_name = serializers.CharField()
    office_location = serializers.CharField()
    mobile_phone = serializers.CharField()
    business_phones = serializers.ListField(child=serializers.CharField())
    street_address = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()
    postal_code = serializers.CharField()
    country = serializers.CharField()
    usage_location = serializers.CharField()
    created_at = serializers.DateTimeField()
    password_changed_at = serializers.DateTimeField(allow_null=True)
    has_photo = serializers.SerializerMethodField(
        help_text="Whether the user has a profile photo (GET /users/{id}/photo returns it)."
    )
    groups = serializers.SerializerMethodField(help_text="Ids of the groups the user is in.")

    def get_has_photo(self, user: User) -> bool:
        return bool(user.photo_sha256)

    def get_groups(self, user: User) -> list[int]:
        # The views prefetch `security_groups`, so this costs no query per user.
        return [group.pk for group in user.security_groups.all()]


@extend_schema_serializer(component_name="Group")
class GroupOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
