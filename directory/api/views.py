"""The directory's REST API: one view per resource path, thin. Each reads through
`directory.selectors` (scoped to the caller's organization, so another organization's
object is a 404) and writes through `directory.services`, which validate, record the
event and raise the errors the API turns into its one error shape."""

from django.db.models import prefetch_related_objects
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from directory import selectors, services
from directory.models import User

from .authentication import request_actor, request_organization
from .errors import error_responses
from .pagination import Pagination
from .serializers import (
    GroupOutputSerializer,
    InputSerializer,
    UserOutputSerializer,
    profile_fields,
)

USERS, GROUPS = ["users"], ["groups"]


def _with_groups(users):
    """Users ready for `UserOutputSerializer`: their group ids fetched in one query."""
    if isinstance(users, list):
        prefetch_related_objects(users, "security_groups")
        return users
    return users.prefetch_related("security_groups")


def _user_response(user: User, *, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(UserOutputSerializer(_with_groups([user])[0]).data, status=status_code)


class _Paginated(APIView):
    pagination_class = Pagination

    def paginated(self, items, serializer_class, prepare=lambda page: page):
        paginator = self.pagination_class()
        page = prepare(paginator.paginate_queryset(items, self.request, view=self))
        return paginator.get_paginated_response(serializer_class(page, many=True).data)


# --- users ---------------------------------------------------------------------------


class UserFilterSerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False, allow_blank=True, help_text="Part of an email, display, first or last name."
    )
    status = serializers.ChoiceField(choices=User.STATUSES, required=False)
    role = serializers.ChoiceField(choices=User.ROLES, required=False)


class UserCreateInputSerializer(InputSerializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=User.ROLES, default=User.MEMBER)
    password = serializers.CharField(
        required=False,
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Optional. Without one the user stays `staged` until they set one.",
    )
    send_activation = serializers.BooleanField(
        default=True,
        help_text="Email the user a welcome message with an activation link.",
    )

    def get_fields(self):
        return {**super().get_fields(), **profile_fields()}


class UserUpdateInputSerializer(InputSerializer):
    email = serializers.EmailField(max_length=254, required=False)
    role = serializers.ChoiceField(choices=User.ROLES, required=False)

    def get_fields(self):
        return {**super().get_fields(), **profile_fields()}


class PasswordInputSerializer(InputSerializer):
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, style={"input_type": "password"}
    )
    must_change = serializers.BooleanField(
        default=False,
        help_text="A temporary password: the user must choose a new one at "
        "their next sign-in to the portal.",
    )


class UserListApi(_Paginated):
    @extend_schema(
        tags=USERS,
        summary="List users",
        parameters=[UserFilterSerializer],
        responses={200: UserOutputSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request):
        filters = UserFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        users = selectors.user_list(
            organization=request_organization(request),
            search=filters.validated_data.get("q", ""),
            status=filters.validated_data.get("status", ""),
            role=filters.validated_data.get("role", ""),
        )
        return self.paginated(users, UserOutputSerializer, prepare=_with_groups)

    @extend_schema(
        tags=USERS,
        summary="Create a user",
        request=UserCreateInputSerializer,
        responses={201: UserOutputSerializer, **error_responses(400, 409, 415)},
    )
    def post(self, request):
        data = _valid(UserCreateInputSerializer, request)
        user = services.user_create(
            actor=request_actor(request), organization=request_organization(request), **data
        )
        return _user_response(user, status_code=status.HTTP_201_CREATED)


class UserDetailApi(APIView):
    @extend_schema(
        tags=USERS,
        summary="Get a user",
        responses={200: UserOutputSerializer, **error_responses(404)},
    )
    def get(self, request, user_id: int):
        return _user_response(_user(request, user_id))

    @extend_schema(
        tags=USERS,
        summary="Change a user",
        description="Only the fields given change.",
        request=UserUpdateInputSerializer,
        responses={200: UserOutputSerializer, **error_responses(400, 404, 409, 415)},
    )
    def patch(self, request, user_id: int):
        user = _user(request, user_id)
        data = _valid(UserUpdateInputSerializer, request, partial=True)
        user = services.user_update(actor=request_actor(request), user=user, **data)
        return _user_response(user)

    @extend_schema(
        tags=USERS,
        summary="Delete a user",
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(404)},
    )
    def delete(self, request, user_id: int):
        services.user_delete(actor=request_actor(request), user=_user(request, user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserPasswordApi(APIView):
    @extend_schema(
        tags=USERS,
        summary="Set a user's password",
        description="Checked against the organization's password policy; a "
        "staged user becomes active. The password is never returned.",
        request=PasswordInputSerializer,
        responses={
            204: OpenApiResponse(description="Password set."),
            **error_responses(400, 404, 415),
        },
    )
    def post(self, request, user_id: int):
        user = _user(request, user_id)
        data = _valid(PasswordInputSerializer, request)
        services.user_set_password(
            actor=request_actor(request),
            user=user,
            password=data["password"],
            must_change=data["must_change"],
            source="admin_temporary" if data["must_change"] else "admin",
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserSuspendApi(APIView):
    @extend_schema(
        tags=USERS,
        summary="Suspend a user",
        request=None,
        responses={200: UserOutputSerializer, **error_responses(404)},
    )
    def post(self, request, user_id: int):
        user = services.user_suspend(actor=request_actor(request), user=_user(request, user_id))
        return _user_response(user)


class UserActivateApi(APIView):
    @extend_schema(
        tags=USERS,
        summary="Reactivate a suspended user",
        request=None,
        responses={200: UserOutputSerializer, **error_responses(404)},
    )
    def post(self, request, user_id: int):
        user = services.user_activate(actor=request_actor(request), user=_user(request, user_id))
        return _user_response(user)


# --- groups --------------------------------------------------------------------------


class GroupFilterSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, help_text="Part of the name.")


class GroupCreateInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=256)
    description = serializers.CharField(max_length=1024, required=False, allow_blank=True)


class GroupUpdateInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=256, required=False)
    description = serializers.CharField(max_length=1024, required=False, allow_blank=True)


class GroupListApi(_Paginated):
    @extend_schema(
        tags=GROUPS,
        summary="List groups",
        parameters=[GroupFilterSerializer],
        responses={200: GroupOutputSerializer(many=True), **error_responses(404)},
    )
    def get(self, request):
        filters = GroupFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        groups = selectors.group_list(
            organization=request_organization(request), search=filters.validated_data.get("q", "")
        )
        return self.paginated(groups, GroupOutputSerializer)

    @extend_schema(
        tags=GROUPS,
        summary="Create a group",
        request=GroupCreateInputSerializer,
        responses={201: GroupOutputSerializer, **error_responses(400, 409, 415)},
    )
    def post(self, request):
        data = _valid(GroupCreateInputSerializer, request)
        group = services.group_create(
            actor=request_actor(request), organization=request_organization(request), **data
        )
        return Response(GroupOutputSerializer(group).data, status=status.HTTP_201_CREATED)


class GroupDetailApi(APIView):
    @extend_schema(
        tags=GROUPS,
        summary="Get a group",
        responses={200: GroupOutputSerializer, **error_responses(404)},
    )
    def get(self, request, group_id: int):
        return Response(GroupOutputSerializer(_group(request, group_id)).data)

    @extend_schema(
        tags=GROUPS,
        summary="Change a group",
        request=GroupUpdateInputSerializer,
        responses={200: GroupOutputSerializer, **error_responses(400, 404, 409, 415)},
    )
    def patch(self, request, group_id: int):
        group = _group(request, group_id)
        data = _valid(GroupUpdateInputSerializer, request, partial=True)
        group = services.group_update(actor=request_actor(request), group=group, **data)
        return Response(GroupOutputSerializer(group).data)

    @extend_schema(
        tags=GROUPS,
        summary="Delete a group",
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(404)},
    )
    def delete(self, request, group_id: int):
        services.group_delete(actor=request_actor(request), group=_group(request, group_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupMemberListApi(_Paginated):
    @extend_schema(
        tags=GROUPS,
        summary="List a group's members",
        responses={200: UserOutputSerializer(many=True), **error_responses(404)},
    )
    def get(self, request, group_id: int):
        members = selectors.group_members(group=_group(request, group_id))
        return self.paginated(members, UserOutputSerializer, prepare=_with_groups)


class GroupMemberApi(APIView):
    @extend_schema(
        tags=GROUPS,
        summary="Add a member",
        request=None,
        description="Idempotent: adding a member again changes nothing.",
        responses={
            204: OpenApiResponse(description="The user is a member."),
            **error_responses(404),
        },
    )
    def post(self, request, group_id: int, user_id: int):
        group, user = _group(request, group_id), _user(request, user_id)
        services.group_member_add(actor=request_actor(request), group=group, user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        tags=GROUPS,
        summary="Remove a member",
        description="Idempotent: removing a user who is not a member changes nothing.",
        responses={
            204: OpenApiResponse(description="The user is not a member."),
            **error_responses(404),
        },
    )
    def delete(self, request, group_id: int, user_id: int):
        group, user = _group(request, group_id), _user(request, user_id)
        services.group_member_remove(actor=request_actor(request), group=group, user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- helpers -------------------------------------------------------------------------


def _user(request, user_id) -> User:
    return selectors.user_get(organization=request_organization(request), pk=user_id)


def _group(request, group_id):
    return selectors.group_get(organization=request_organization(request), pk=group_id)


def _valid(serializer_class, request, *, partial: bool = False) -> dict:
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
