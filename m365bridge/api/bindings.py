"""REST API for binding users to a tenant (provisioning): list a tenant's bindings,
bind users (a result per user), read and unbind one, and retry one now."""

from django.http import Http404
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from directory import selectors as directory_selectors
from directory.api.errors import error_responses
from directory.api.pagination import Pagination
from directory.errors import InvalidInput
from directory.models import User

from .. import selectors, services
from ..models import UserBinding
from .preview import DRY_RUN, PreviewSerializer, dry_run_asked, preview_data
from .views import TAGS, request_actor, request_organization

MAX_USERS = 5000


class BindingErrorSerializer(serializers.Serializer):
    code = serializers.CharField(source="last_error_code")
    message = serializers.CharField(source="last_error_message")
    request_id = serializers.CharField(source="last_error_request_id")
    at = serializers.DateTimeField(source="last_error_at")


class BindingOutputSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user_ref", allow_null=True)
    email = serializers.CharField(source="user_label")
    account_enabled = serializers.BooleanField(source="known_enabled", allow_null=True)
    changes_pending = serializers.BooleanField(source="needs_sync")
    password_pending = serializers.BooleanField(
        help_text="Bound, but Stratus holds no password for the user yet: the account has a "
        "random one until the user's next portal sign-in (or activation) pushes theirs."
    )
    last_error = serializers.SerializerMethodField()

    class Meta:
        model = UserBinding
        fields = [
            "id",
            "tenant_id",
            "user_id",
            "email",
            "state",
            "bound",
            "microsoft_id",
            "account_enabled",
            "changes_pending",
            "password_pending",
            "password_pushed_at",
            "synced_at",
            "attempts",
            "next_attempt_at",
            "last_error",
        ]

    def get_last_error(self, binding) -> BindingErrorSerializer(allow_null=True):
        return BindingErrorSerializer(binding).data if binding.last_error_message else None


class BindInputSerializer(serializers.Serializer):
    user_ids = serializers.ListField(
        child=serializers.IntegerField(), allow_empty=False, max_length=MAX_USERS
    )


class BindResultSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    email = serializers.CharField()
    ok = serializers.BooleanField()
    code = serializers.CharField()
    message = serializers.CharField()
    binding = BindingOutputSerializer(allow_null=True)


class BindOutputSerializer(serializers.Serializer):
    bound = serializers.IntegerField()
    refused = serializers.IntegerField()
    results = BindResultSerializer(many=True)


def validated_input(serializer_class, data):
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        fields = {
            name: [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
            for name, msgs in serializer.errors.items()
        }
        raise InvalidInput("The request is not valid.", fields=fields)
    return serializer.validated_data


class TenantUsersApi(APIView):
    pagination_class = Pagination  # so the schema shows the page, not a bare array

    @extend_schema(
        tags=TAGS,
        responses={200: BindingOutputSerializer(many=True), **error_responses(400, 404)},
        summary="List the tenant's user bindings (filter with ?state= and ?password_pending=true)",
    )
    def get(self, request, tenant_id: int):
        tenant = selectors.tenant_get(organization=request_organization(request), pk=tenant_id)
        bindings = UserBinding.objects.filter(tenant=tenant).order_by("user_label", "pk")
        state = request.query_params.get("state")
        if state:
            if state not in dict(UserBinding.STATES):
                raise InvalidInput.for_field(
                    "state", "Must be one of: " + ", ".join(dict(UserBinding.STATES)) + "."
                )
            bindings = bindings.filter(state=state)
        pending = request.query_params.get("password_pending")
        if pending is not None:
            if pending not in ("true", "false"):
                raise InvalidInput.for_field("password_pending", "Must be true or false.")
            bindings = selectors.bindings_password_pending(
                bindings=bindings, pending=pending == "true"
            )
        paginator = Pagination()
        page = paginator.paginate_queryset(bindings, request, view=self)
        return paginator.get_paginated_response(BindingOutputSerializer(page, many=True).data)

    @extend_schema(
        tags=TAGS,
        request=BindInputSerializer,
        parameters=[DRY_RUN],
        responses={
            200: PolymorphicProxySerializer(
                component_name="BindOrPreview",
                serializers=[BindOutputSerializer, PreviewSerializer],
                resource_type_field_name=None,
            ),
            **error_responses(400, 404, 415),
        },
        summary="Bind users to the tenant: each gets a result; their Microsoft 365 "
        "accounts are created by workers (with ?dry_run=true: what would be sent)",
    )
    def post(self, request, tenant_id: int):
        organization = request_organization(request)
        tenant = selectors.tenant_get(organization=organization, pk=tenant_id)
        dry_run = dry_run_asked(request)
        ids = list(dict.fromkeys(validated_input(BindInputSerializer, request.data)["user_ids"]))
        users = {u.pk: u for u in User.objects.for_organization(organization).filter(pk__in=ids)}
        if dry_run:
            chosen = [users[i] for i in ids if i in users]
            if len(chosen) < len(ids):
                raise InvalidInput.for_field(
                    "user_ids",
                    "No such user in your organization: "
                    + ", ".join(str(i) for i in ids if i not in users)
                    + ".",
                )
            return Response(preview_data(services.users_bind_preview(tenant=tenant, users=chosen)))
        results = services.users_bind(
            actor=request_actor(request), tenant=tenant, users=[users[i] for i in ids if i in users]
        )
        by_id = {r.user_id: r for r in results}
        missing = services.BindResult(
            user_id=0,
            email="",
            ok=False,
            code="not_found",
            message="No such user in your organization.",
        )
        ordered = [
            by_id.get(i) or services.BindResult(**{**missing.__dict__, "user_id": i}) for i in ids
        ]
        data = {
            "bound": sum(1 for r in ordered if r.ok),
            "refused": sum(1 for r in ordered if not r.ok),
            "results": ordered,
        }
        return Response(BindOutputSerializer(data).data)


def _binding(request, tenant_id, user_id) -> UserBinding:
    organization = request_organization(request)
    tenant = selectors.tenant_get(organization=organization, pk=tenant_id)
    user = directory_selectors.user_get(organization=organization, pk=user_id)
    binding = selectors.binding_for_user(organization=organization, user=user)
    if binding is None or binding.tenant_id != tenant.pk:
        raise Http404("This user is not bound to this tenant.")
    return binding


class TenantUserApi(APIView):
    @extend_schema(
        tags=TAGS,
        responses={200: BindingOutputSerializer, **error_responses(404)},
        summary="Get one user's binding to the tenant",
    )
    def get(self, request, tenant_id: int, user_id: int):
        return Response(BindingOutputSerializer(_binding(request, tenant_id, user_id)).data)

    @extend_schema(
        tags=TAGS,
        responses={202: BindingOutputSerializer, **error_responses(400, 404)},
        summary="Unbind a user: sign-in to the Microsoft 365 account is blocked "
        "(never deleted), then the binding is removed",
    )
    def delete(self, request, tenant_id: int, user_id: int):
        binding = _binding(request, tenant_id, user_id)
        binding = services.user_unbind(actor=request_actor(request), user=binding.user)
        return Response(BindingOutputSerializer(binding).data, status=status.HTTP_202_ACCEPTED)


class TenantUserRetryApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={202: BindingOutputSerializer, **error_responses(400, 404)},
        summary="Sync one binding now (after an error, or to overwrite changes "
        "made in Microsoft 365)",
    )
    def post(self, request, tenant_id: int, user_id: int):
        binding = _binding(request, tenant_id, user_id)
        binding = services.binding_retry(actor=request_actor(request), binding=binding, resend=True)
        return Response(BindingOutputSerializer(binding).data, status=status.HTTP_202_ACCEPTED)
