"""REST API for syncing groups to a tenant as security groups (G1): list a tenant's
group bindings, bind a group (or preview it with `?dry_run=true`), read and unbind one,
and retry one now. Errors have the users API's shape."""

from django.http import Http404
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from directory import selectors as directory_selectors
from directory.api.errors import error_responses
from directory.api.pagination import Pagination

from .. import selectors, services
from ..models import GroupBinding
from .bindings import BindingErrorSerializer, validated_input
from .preview import DRY_RUN, PreviewSerializer, dry_run_asked, preview_data
from .views import TAGS, request_actor, request_organization


class GroupBindingOutputSerializer(serializers.ModelSerializer):
    group_id = serializers.IntegerField()
    name = serializers.CharField(source="group.name")
    changes_pending = serializers.BooleanField(source="needs_sync")
    members_sent = serializers.SerializerMethodField()
    last_error = serializers.SerializerMethodField()

    class Meta:
        model = GroupBinding
        fields = [
            "id",
            "tenant_id",
            "group_id",
            "name",
            "state",
            "microsoft_id",
            "changes_pending",
            "members_sent",
            "synced_at",
            "attempts",
            "next_attempt_at",
            "last_error",
        ]

    def get_members_sent(self, binding) -> int:
        return len(binding.known_members or [])

    def get_last_error(self, binding) -> BindingErrorSerializer(allow_null=True):
        return BindingErrorSerializer(binding).data if binding.last_error_message else None


class GroupBindInputSerializer(serializers.Serializer):
    group_id = serializers.IntegerField()


def _group(request, group_id):
    return directory_selectors.group_get(organization=request_organization(request), pk=group_id)


def _group_binding(request, tenant_id, group_id) -> GroupBinding:
    organization = request_organization(request)
    tenant = selectors.tenant_get(organization=organization, pk=tenant_id)
    group = directory_selectors.group_get(organization=organization, pk=group_id)
    binding = selectors.group_bindings_for_group(organization=organization, group=group).filter(
        tenant=tenant
    )
    found = binding.select_related("group").first()
    if found is None:
        raise Http404("This group is not synced to this tenant.")
    return found


class TenantGroupsApi(APIView):
    pagination_class = Pagination

    @extend_schema(
        tags=TAGS,
        responses={200: GroupBindingOutputSerializer(many=True), **error_responses(400, 404)},
        summary="List the groups synced to the tenant as security groups",
    )
    def get(self, request, tenant_id: int):
        tenant = selectors.tenant_get(organization=request_organization(request), pk=tenant_id)
        bindings = GroupBinding.objects.filter(tenant=tenant).select_related("group").order_by("pk")
        paginator = Pagination()
        page = paginator.paginate_queryset(bindings, request, view=self)
        return paginator.get_paginated_response(GroupBindingOutputSerializer(page, many=True).data)

    @extend_schema(
        tags=TAGS,
        request=GroupBindInputSerializer,
        parameters=[DRY_RUN],
        responses={
            201: GroupBindingOutputSerializer,
            200: PolymorphicProxySerializer(
                component_name="GroupBindingOrPreview",
                serializers=[GroupBindingOutputSerializer, PreviewSerializer],
                resource_type_field_name=None,
            ),
            **error_responses(400, 404, 415),
        },
        summary="Sync a group to the tenant as a security group (201; 200 if it already "
        "was; with ?dry_run=true: 200 and what would be sent)",
    )
    def post(self, request, tenant_id: int):
        tenant = selectors.tenant_get(organization=request_organization(request), pk=tenant_id)
        dry_run = dry_run_asked(request)
        group = _group(request, validated_input(GroupBindInputSerializer, request.data)["group_id"])
        if dry_run:
            return Response(preview_data(services.group_bind_preview(tenant=tenant, group=group)))
        existed = GroupBinding.objects.filter(tenant=tenant, group=group).exists()
        binding = services.group_bind(actor=request_actor(request), tenant=tenant, group=group)
        return Response(
            GroupBindingOutputSerializer(binding).data,
            status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED,
        )


class TenantGroupApi(APIView):
    @extend_schema(
        tags=TAGS,
        responses={200: GroupBindingOutputSerializer, **error_responses(404)},
        summary="Get one group's binding to the tenant",
    )
    def get(self, request, tenant_id: int, group_id: int):
        binding = _group_binding(request, tenant_id, group_id)
        return Response(GroupBindingOutputSerializer(binding).data)

    @extend_schema(
        tags=TAGS,
        responses={204: None, **error_responses(404)},
        summary="Stop syncing a group to the tenant (the Microsoft 365 group is kept)",
    )
    def delete(self, request, tenant_id: int, group_id: int):
        binding = _group_binding(request, tenant_id, group_id)
        services.group_unbind(actor=request_actor(request), binding=binding)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TenantGroupRetryApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={202: GroupBindingOutputSerializer, **error_responses(404)},
        summary="Sync one group binding now (after an error, or to put back changes "
        "made in Microsoft 365)",
    )
    def post(self, request, tenant_id: int, group_id: int):
        binding = _group_binding(request, tenant_id, group_id)
        binding = services.group_binding_retry(actor=request_actor(request), binding=binding)
        return Response(GroupBindingOutputSerializer(binding).data, status=status.HTTP_202_ACCEPTED)
