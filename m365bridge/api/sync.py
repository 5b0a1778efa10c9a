"""REST API of the reconcile (P5): start a sync of a tenant with Microsoft 365 and read
its sync history."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from directory.api.errors import error_responses

from .. import selectors, services
from ..models import SyncRun
from .preview import DRY_RUN, PreviewSerializer, dry_run_asked, preview_data
from .views import TAGS, request_actor, request_organization


class SyncRunOutputSerializer(serializers.ModelSerializer):
    actor = serializers.EmailField(source="actor.email", default=None)
    seconds = serializers.FloatField(allow_null=True)

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "kind",
            "outcome",
            "started_at",
            "ended_at",
            "seconds",
            "read",
            "corrected",
            "failed",
            "requests",
            "note",
            "actor",
        ]


class TenantSyncOutputSerializer(serializers.Serializer):
    queued = serializers.BooleanField()
    reconcile_interval_minutes = serializers.IntegerField()
    last_reconcile_at = serializers.DateTimeField(allow_null=True)
    runs = SyncRunOutputSerializer(many=True)


def _sync_state(tenant, *, queued: bool) -> dict:
    return {
        "queued": queued,
        "reconcile_interval_minutes": tenant.reconcile_interval_minutes,
        "last_reconcile_at": tenant.last_reconcile_at,
        "runs": SyncRunOutputSerializer(selectors.sync_run_list(tenant=tenant), many=True).data,
    }


class TenantSyncApi(APIView):
    @extend_schema(
        tags=TAGS,
        responses={200: TenantSyncOutputSerializer, **error_responses(404)},
        summary="A tenant's sync history with Microsoft 365 (latest runs first)",
    )
    def get(self, request, tenant_id: int):
        tenant = selectors.tenant_get(organization=request_organization(request), pk=tenant_id)
        return Response(_sync_state(tenant, queued=False))

    @extend_schema(
        tags=TAGS,
        request=None,
        parameters=[DRY_RUN],
        responses={
            200: PreviewSerializer,
            202: TenantSyncOutputSerializer,
            **error_responses(400, 404),
        },
        summary="Sync a tenant with Microsoft 365 now: read back what changed "
        "there and overwrite the drift (with ?dry_run=true: 200 and the changes waiting "
        "to be sent, per account, old → new)",
    )
    def post(self, request, tenant_id: int):
        tenant = selectors.tenant_get(organization=request_organization(request), pk=tenant_id)
        if dry_run_asked(request):
            return Response(preview_data(services.tenant_sync_preview(tenant=tenant)))
        services.tenant_reconcile_now(actor=request_actor(request), tenant=tenant)
        return Response(_sync_state(tenant, queued=True), status=status.HTTP_202_ACCEPTED)
