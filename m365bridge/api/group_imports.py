"""REST API of the group import (issue 12, I3): the tenant's mirrored Microsoft 365
groups with the Groups tab's search, status filter, sort and paging, and linking a group
conflict to the Stratus group of that name. Selecting groups for a preview or an import
goes through `imports` (`group_ids`, `group_filter`)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from directory import selectors as directory_selectors
from directory.api.errors import error_responses
from directory.api.pagination import Pagination

from .. import import_selectors, services
from ..import_selectors import group_filter_parse
from ..models import MirroredGroup
from .groups import GroupBindingOutputSerializer
from .imports import paged_response, tenant_of_request, validated_input
from .views import TAGS, request_actor, request_organization

GROUP_FILTER_PARAMETERS = [
    OpenApiParameter("q", str, description="Search in the group's name."),
    OpenApiParameter("status", str, enum=[s for s, _ in MirroredGroup.STATUSES]),
    OpenApiParameter(
        "sort", str, description=", ".join(import_selectors.GROUP_SORTS) + "; -x descends."
    ),
]


class MirroredGroupOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = MirroredGroup
        fields = [
            "microsoft_id",
            "display_name",
            "description",
            "mail_enabled",
            "security_enabled",
            "group_types",
            "member_count",
            "created_in_microsoft",
            "status",
            "reason",
            "read_at",
        ]


class GroupLinkInputSerializer(serializers.Serializer):
    group_id = serializers.IntegerField()


class TenantMirroredGroupsApi(APIView):
    pagination_class = Pagination

    @extend_schema(
        tags=TAGS,
        parameters=GROUP_FILTER_PARAMETERS,
        responses={200: MirroredGroupOutputSerializer(many=True), **error_responses(400, 404)},
        summary="List the tenant's Microsoft 365 groups (the import mirror) with their "
        "import status",
    )
    def get(self, request, tenant_id: int):
        tenant = tenant_of_request(request, tenant_id)
        rows = import_selectors.mirrored_groups_list(
            tenant=tenant, filter=group_filter_parse(request.query_params)
        )
        return paged_response(self, request, rows, MirroredGroupOutputSerializer)


class MirroredGroupLinkApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=GroupLinkInputSerializer,
        responses={200: GroupBindingOutputSerializer, **error_responses(400, 404, 409, 415)},
        summary="Resolve a group conflict: bind an existing Stratus group to this Microsoft "
        "365 group (Stratus is the source of truth from then on)",
    )
    def post(self, request, tenant_id: int, microsoft_id: str):
        organization = request_organization(request)
        tenant = tenant_of_request(request, tenant_id)
        row = import_selectors.mirrored_group_get(tenant=tenant, microsoft_id=microsoft_id)
        group_id = validated_input(GroupLinkInputSerializer, request.data)["group_id"]
        group = directory_selectors.group_get(organization=organization, pk=group_id)
        binding = services.mirrored_group_link(
            actor=request_actor(request), tenant=tenant, row=row, group=group
        )
        return Response(GroupBindingOutputSerializer(binding).data)
