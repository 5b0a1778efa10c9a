"""REST API for Microsoft 365 tenants: list and get them (status, domains, permission
check), deauthorize one, and start a re-authorization. Connecting is a browser flow
(Microsoft's sign-in), so the API hands out the console link that starts it."""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from directory.api.errors import error_responses
from directory.api.pagination import Pagination
from directory.errors import InvalidInput
from directory.models import User

from .. import selectors, services
from ..models import Tenant

TAGS = ["microsoft-365"]


def request_actor(request) -> User | None:
    """The person to record as actor: the signed-in admin, or an API key's creator."""
    user = request.user
    return user if isinstance(user, User) else getattr(user, "user", None)


def request_organization(request):
    return request.user.organization


class DomainSerializer(serializers.Serializer):
    name = serializers.CharField()
    is_initial = serializers.BooleanField()
    is_default = serializers.BooleanField()
    authentication_type = serializers.CharField()


class FeatureSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    allowed = serializers.BooleanField()
    missing = serializers.ListField(child=serializers.CharField())


class PermissionCheckSerializer(serializers.Serializer):
    mode = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())
    directory_roles = serializers.ListField(child=serializers.CharField())
    complete = serializers.BooleanField()
    features = FeatureSerializer(many=True)


class TenantOutputSerializer(serializers.ModelSerializer):
    domains = DomainSerializer(many=True, source="domains.all")
    connected_by = serializers.EmailField(
        source="connected_by.email", default=None, allow_null=True
    )
    authorized_by = serializers.CharField(source="authorized_by_upn")
    permission_check = serializers.SerializerMethodField()

    class Meta:
        model = Tenant
        fields = [
            "id",
            "microsoft_tenant_id",
            "display_name",
            "initial_domain",
            "mode",
            "status",
            "domains",
            "connected_by",
            "authorized_by",
            "permission_check",
            "last_error",
            "last_error_at",
            "connected_at",
            "deauthorized_at",
            "permissions_checked_at",
        ]

    def get_permission_check(self, tenant) -> PermissionCheckSerializer:
        return selectors.tenant_permission_check(tenant=tenant).as_dict()


class ReauthorizeOutputSerializer(serializers.Serializer):
    reauthorize_url = serializers.URLField(
        help_text="Open this console page in a browser, signed in as an admin, to sign in "
        "to Microsoft 365 again."
    )
    tenant = TenantOutputSerializer()


class TenantListApi(APIView):
    pagination_class = Pagination  # so the schema shows the page, not a bare array

    @extend_schema(
        tags=TAGS,
        responses={200: TenantOutputSerializer(many=True), **error_responses(404)},
        summary="List the organization's Microsoft 365 tenants",
    )
    def get(self, request):
        paginator = Pagination()
        tenants = selectors.tenant_list(organization=request_organization(request))
        page = paginator.paginate_queryset(tenants, request, view=self)
        return paginator.get_paginated_response(TenantOutputSerializer(page, many=True).data)


class TenantDetailApi(APIView):
    @extend_schema(
        tags=TAGS,
        responses={200: TenantOutputSerializer, **error_responses(404)},
        summary="Get a tenant with its domains and permission check",
    )
    def get(self, request, tenant_id: int):
        tenant = selectors.tenant_get(organization=request_organization(request), pk=tenant_id)
        return Response(TenantOutputSerializer(tenant).data)


class TenantDeauthorizeApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: TenantOutputSerializer, **error_responses(404)},
        summary="Deauthorize a tenant: delete its tokens and unbind its users "
        "and groups (nothing is written to Microsoft 365)",
    )
    def post(self, request, tenant_id: int):
        tenant = selectors.tenant_get(organization=request_organization(request), pk=tenant_id)
        tenant = services.tenant_deauthorize(actor=request_actor(request), tenant=tenant)
        return Response(
            TenantOutputSerializer(
                selectors.tenant_get(organization=tenant.organization, pk=tenant.pk)
            ).data
        )


class TenantReauthorizeApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={202: ReauthorizeOutputSerializer, **error_responses(400, 404)},
        summary="Start re-authorizing a tenant (a browser sign-in to Microsoft)",
    )
    def post(self, request, tenant_id: int):
        tenant = selectors.tenant_get(organization=request_organization(request), pk=tenant_id)
        if tenant.status == Tenant.DEAUTHORIZED:
            raise InvalidInput(
                "This tenant is deauthorized; connect it again from the console instead.",
                code="deauthorized",
            )
        url = settings.BASE_URL.rstrip("/") + reverse("m365:reauthorize", args=[tenant.pk])
        return Response(
            {"reauthorize_url": url, "tenant": TenantOutputSerializer(tenant).data},
            status=status.HTTP_202_ACCEPTED,
        )
