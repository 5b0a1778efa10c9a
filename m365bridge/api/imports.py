"""REST API of the import (issue 12): list the tenant's mirrored Microsoft 365 users
with the Import page's filters and paging, preview a selection (users and groups),
start an import, read its progress and results, and link a conflict to an existing
Stratus user. The groups' own list and link are in `group_imports`."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from directory import selectors as directory_selectors
from directory.api.errors import error_responses
from directory.api.pagination import Pagination
from directory.errors import InvalidInput

from .. import import_selectors, selectors, services
from ..import_selectors import GroupFilter, MirrorFilter, group_filter_parse, mirror_filter_parse
from ..models import ImportItem, ImportJob, MirroredUser
from .bindings import BindingOutputSerializer
from .views import TAGS, request_actor, request_organization

MAX_IDS = 5000

FILTER_PARAMETERS = [
    OpenApiParameter("q", str, description="Search in name, email and UPN."),
    OpenApiParameter("status", str, enum=[s for s, _ in MirroredUser.STATUSES]),
    OpenApiParameter("domain", str),
    OpenApiParameter("department", str),
    OpenApiParameter("enabled", bool, description="true: sign-in allowed; false: blocked."),
    OpenApiParameter("licensed", bool),
    OpenApiParameter("sort", str, description=", ".join(import_selectors.SORTS) + "; -x descends."),
]


class MirroredUserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = MirroredUser
        fields = [
            "microsoft_id",
            "user_principal_name",
            "mail",
            "email",
            "display_name",
            "domain",
            "department",
            "job_title",
            "account_enabled",
            "licensed",
            "user_type",
            "on_premises_sync",
            "created_in_microsoft",
            "status",
            "reason",
            "read_at",
        ]


class GroupFilterInputSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True)
    status = serializers.CharField(required=False, allow_blank=True)


class FilterInputSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True)
    status = serializers.CharField(required=False, allow_blank=True)
    domain = serializers.CharField(required=False, allow_blank=True)
    department = serializers.CharField(required=False, allow_blank=True)
    enabled = serializers.CharField(required=False, allow_blank=True)
    licensed = serializers.CharField(required=False, allow_blank=True)


class SelectionInputSerializer(serializers.Serializer):
    microsoft_ids = serializers.ListField(
        child=serializers.CharField(max_length=36),
        required=False,
        allow_empty=False,
        max_length=MAX_IDS,
        help_text="The users to import; leave out to take all that match `filter` (no "
        "user when only groups are chosen).",
    )
    filter = FilterInputSerializer(required=False)
    group_ids = serializers.ListField(
        child=serializers.CharField(max_length=36),
        required=False,
        allow_empty=False,
        max_length=MAX_IDS,
        help_text="The Microsoft 365 groups to import (after the users, with the members "
        "imported).",
    )
    group_filter = GroupFilterInputSerializer(
        required=False, help_text="Import every group that matches."
    )


class ImportInputSerializer(SelectionInputSerializer):
    send_activation = serializers.BooleanField(
        default=False, help_text="Send each imported user an activation email now."
    )
    with_members = serializers.BooleanField(
        default=False,
        help_text="Also import the selected groups' members that can be imported.",
    )


class PreviewUserSerializer(serializers.Serializer):
    microsoft_id = serializers.CharField()
    user_principal_name = serializers.CharField()
    status = serializers.CharField()
    reason = serializers.CharField()
    stratus = serializers.DictField(help_text="The Stratus values the import will set.")


class PreviewCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    to_import = serializers.IntegerField()
    conflicts = serializers.IntegerField()
    not_importable = serializers.IntegerField()
    already_imported = serializers.IntegerField()


class PreviewGroupSerializer(serializers.Serializer):
    microsoft_id = serializers.CharField()
    display_name = serializers.CharField()
    status = serializers.CharField()
    reason = serializers.CharField()
    member_count = serializers.IntegerField()
    members_coming = serializers.IntegerField(
        help_text="Members that will be in the Stratus group (imported before or by this "
        "import); the others are reported as left out."
    )


class GroupPreviewSerializer(PreviewCountsSerializer):
    sample = PreviewGroupSerializer(many=True)


class PreviewOutputSerializer(PreviewCountsSerializer):
    sample = PreviewUserSerializer(many=True)
    groups = GroupPreviewSerializer(required=False, help_text="When groups are selected.")


class ImportItemSerializer(serializers.ModelSerializer):
    user_principal_name = serializers.CharField(source="label", help_text="or a group's name")
    user_id = serializers.IntegerField(allow_null=True)
    group_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = ImportItem
        fields = [
            "kind",
            "microsoft_id",
            "user_principal_name",
            "outcome",
            "reason",
            "user_id",
            "group_id",
            "members_left_out",
        ]


class ImportPhotosSerializer(serializers.Serializer):
    status = serializers.CharField(
        help_text='"" until the users are in, then "running", then "done".'
    )
    total = serializers.IntegerField(help_text="Imported users whose photo is read.")
    done = serializers.IntegerField()
    found = serializers.IntegerField(help_text="Photos stored in Stratus.")
    failed = serializers.IntegerField(help_text="Photos Stratus could not take.")


class ImportJobOutputSerializer(serializers.ModelSerializer):
    results = serializers.SerializerMethodField(
        help_text="Each user that did not import (failed or skipped) and why."
    )
    photos = serializers.SerializerMethodField(
        help_text="The follow-up step reading each imported user's profile photo."
    )

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "status",
            "total",
            "groups",
            "done",
            "imported",
            "skipped",
            "failed",
            "send_activation",
            "created_at",
            "started_at",
            "ended_at",
            "results",
            "photos",
        ]

    def get_photos(self, job) -> ImportPhotosSerializer:
        return {
            "status": job.photos_status,
            "total": job.photos_total,
            "done": job.photos_done,
            "found": job.photos_found,
            "failed": job.photos_failed,
        }

    def get_results(self, job) -> ImportItemSerializer(many=True):
        items = import_selectors.import_items_unfinished(job=job)[:1000]
        return ImportItemSerializer(items, many=True).data


class LinkInputSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()


def validated_input(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        fields = {
            name: [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
            for name, msgs in serializer.errors.items()
        }
        raise InvalidInput("The request is not valid.", fields=fields)
    return serializer.validated_data


def tenant_of_request(request, tenant_id):
    return selectors.tenant_get(organization=request_organization(request), pk=tenant_id)


def _selection(data) -> tuple[list[str] | None, MirrorFilter | None]:
    ids = data.get("microsoft_ids")
    if ids is not None:
        return list(dict.fromkeys(ids)), None
    if "filter" not in data and ("group_ids" in data or "group_filter" in data):
        return None, None  # only groups
    return None, mirror_filter_parse(data.get("filter") or {})


def _no_users():
    return MirroredUser.objects.none()


def _group_selection(data) -> tuple[list[str] | None, GroupFilter | None]:
    ids = data.get("group_ids")
    if ids is not None:
        return list(dict.fromkeys(ids)), None
    if "group_filter" in data:
        return None, group_filter_parse(data["group_filter"])
    return None, None


def paged_response(view, request, rows, serializer_class) -> Response:
    """One page of a mirror listing, with the API's paging."""
    paginator = Pagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class TenantMirrorApi(APIView):
    pagination_class = Pagination

    @extend_schema(
        tags=TAGS,
        parameters=FILTER_PARAMETERS,
        responses={200: MirroredUserOutputSerializer(many=True), **error_responses(400, 404)},
        summary="List the tenant's Microsoft 365 users (the import mirror) with their "
        "import status",
    )
    def get(self, request, tenant_id: int):
        tenant = tenant_of_request(request, tenant_id)
        rows = import_selectors.mirrored_users_list(
            tenant=tenant, filter=mirror_filter_parse(request.query_params)
        )
        return paged_response(self, request, rows, MirroredUserOutputSerializer)


class TenantImportPreviewApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=SelectionInputSerializer,
        responses={200: PreviewOutputSerializer, **error_responses(400, 404, 415)},
        summary="Preview an import: the counts and the Stratus values, nothing written",
    )
    def post(self, request, tenant_id: int):
        tenant = tenant_of_request(request, tenant_id)
        data = validated_input(SelectionInputSerializer, request.data)
        ids, filter_ = _selection(data)
        users = None
        if ids is not None or filter_ is not None:
            users = import_selectors.mirrored_users_selected(
                tenant=tenant, microsoft_ids=ids, filter=filter_
            )
        preview = PreviewOutputSerializer(
            import_selectors.import_preview(rows=users if users is not None else _no_users())
        ).data
        group_ids, group_filter = _group_selection(data)
        if group_ids is not None or group_filter is not None:
            groups = import_selectors.mirrored_groups_selected(
                tenant=tenant, microsoft_ids=group_ids, filter=group_filter
            )
            preview["groups"] = GroupPreviewSerializer(
                import_selectors.group_import_preview(tenant=tenant, rows=groups, users=users)
            ).data
        return Response(preview)


class TenantImportsApi(APIView):
    @extend_schema(
        tags=TAGS,
        responses={200: ImportJobOutputSerializer(many=True), **error_responses(404)},
        summary="The tenant's latest imports",
    )
    def get(self, request, tenant_id: int):
        jobs = import_selectors.import_job_list(tenant=tenant_of_request(request, tenant_id))
        return Response(ImportJobOutputSerializer(jobs, many=True).data)

    @extend_schema(
        tags=TAGS,
        request=ImportInputSerializer,
        responses={202: ImportJobOutputSerializer, **error_responses(400, 404, 415)},
        summary="Import Microsoft 365 users into Stratus (a background job; nothing is "
        "written to Microsoft)",
    )
    def post(self, request, tenant_id: int):
        tenant = tenant_of_request(request, tenant_id)
        data = validated_input(ImportInputSerializer, request.data)
        ids, filter_ = _selection(data)
        group_ids, group_filter = _group_selection(data)
        job = services.import_start(
            actor=request_actor(request),
            tenant=tenant,
            microsoft_ids=ids,
            filter=filter_,
            send_activation=data["send_activation"],
            group_ids=group_ids,
            group_filter=group_filter,
            with_members=data["with_members"],
        )
        return Response(ImportJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class TenantImportApi(APIView):
    @extend_schema(
        tags=TAGS,
        responses={200: ImportJobOutputSerializer, **error_responses(404)},
        summary="An import's progress (done of total) and its results",
    )
    def get(self, request, tenant_id: int, job_id: int):
        job = import_selectors.import_job_get(
            tenant=tenant_of_request(request, tenant_id), pk=job_id
        )
        return Response(ImportJobOutputSerializer(job).data)


class MirroredUserLinkApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=LinkInputSerializer,
        responses={200: BindingOutputSerializer, **error_responses(400, 404, 409, 415)},
        summary="Resolve a conflict: bind an existing Stratus user to this Microsoft 365 "
        "account (Stratus is the source of truth from then on)",
    )
    def post(self, request, tenant_id: int, microsoft_id: str):
        organization = request_organization(request)
        tenant = tenant_of_request(request, tenant_id)
        row = import_selectors.mirrored_user_get(tenant=tenant, microsoft_id=microsoft_id)
        user_id = validated_input(LinkInputSerializer, request.data)["user_id"]
        user = directory_selectors.user_get(organization=organization, pk=user_id)
        binding = services.mirrored_user_link(
            actor=request_actor(request), tenant=tenant, row=row, user=user
        )
        return Response(BindingOutputSerializer(binding).data)
