"""REST API of the mass-deprovision brake: the blocks it holds for a tenant, and an
owner's decision on them (release: each sent once by the next sync; discard: none sent).

Who may decide: an owner, as in the console (`services.held_blocks_release` checks it).
The console also asks an owner to confirm it is them before a release; through the API:

- a request signed in with the console's session needs the same recent check
  (`directory.reauth`), else 403 `reauth_required`;
- an API key has no second check to give: it releases when its creator is an owner of
  the organization now (a key acts with its creator's current role), and a key whose
  creator was demoted or deleted is refused. Keep owners' keys for automation that
  must decide on held blocks.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from directory import reauth
from directory.api.errors import error_responses
from directory.api.pagination import Pagination
from directory.errors import NotAllowed

from .. import selectors, services
from ..models import HeldBlock
from .views import TAGS, request_actor, request_organization

REAUTH_REQUIRED = (
    "Confirm it is you first (console: /console/confirm-it-is-you/, your password or a "
    "code from your app), then release within 5 minutes."
)


class HeldBlockOutputSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="binding.user_ref", allow_null=True)
    email = serializers.CharField(source="user_label")
    reason = serializers.CharField(help_text="What asked for the block: suspended, deleted, …")
    caused_by = serializers.EmailField(source="actor.email", default=None, allow_null=True)

    class Meta:
        model = HeldBlock
        fields = ["id", "user_id", "email", "reason", "caused_by", "held_at"]


class HeldDecisionOutputSerializer(serializers.Serializer):
    released = serializers.IntegerField(required=False)
    discarded = serializers.IntegerField(required=False)
    held = serializers.IntegerField(help_text="Blocks still held after the decision.")


def _tenant(request, tenant_id: int):
    return selectors.tenant_get(organization=request_organization(request), pk=tenant_id)


def _held_count(tenant) -> int:
    return selectors.held_blocks(tenant=tenant).count()


class TenantHeldBlocksApi(APIView):
    pagination_class = Pagination

    @extend_schema(
        tags=TAGS,
        responses={200: HeldBlockOutputSerializer(many=True), **error_responses(400, 404)},
        summary="List the blocks the deprovision brake holds for the tenant (oldest first)",
    )
    def get(self, request, tenant_id: int):
        tenant = _tenant(request, tenant_id)
        held = selectors.held_blocks(tenant=tenant)
        paginator = Pagination()
        page = paginator.paginate_queryset(held, request, view=self)
        return paginator.get_paginated_response(HeldBlockOutputSerializer(page, many=True).data)


class TenantHeldBlocksReleaseApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: HeldDecisionOutputSerializer, **error_responses(403, 404, 409)},
        summary="Release the held blocks (owners only): each is sent to Microsoft 365 "
        "once, by the next sync",
    )
    def post(self, request, tenant_id: int):
        tenant = _tenant(request, tenant_id)
        actor = request_actor(request)
        services.held_blocks_decider_check(actor=actor)
        if request.auth is None and not reauth.check_is_recent(request):
            raise NotAllowed(REAUTH_REQUIRED, code="reauth_required")
        released = services.held_blocks_release(actor=actor, tenant=tenant)
        return Response({"released": released, "held": _held_count(tenant)})


class TenantHeldBlocksDiscardApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: HeldDecisionOutputSerializer, **error_responses(403, 404, 409)},
        summary="Discard the held blocks (owners only): none is sent; those accounts stay "
        "enabled in Microsoft 365",
    )
    def post(self, request, tenant_id: int):
        tenant = _tenant(request, tenant_id)
        discarded = services.held_blocks_discard(actor=request_actor(request), tenant=tenant)
        return Response({"discarded": discarded, "held": _held_count(tenant)})
