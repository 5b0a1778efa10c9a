from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from . import docs, photos, views
from .errors import not_found

urlpatterns = [
    path("users", views.UserListApi.as_view(), name="api-users"),
    path("users/<int:user_id>", views.UserDetailApi.as_view(), name="api-user"),
    path("users/<int:user_id>/password", views.UserPasswordApi.as_view(), name="api-user-password"),
    path("users/<int:user_id>/photo", photos.UserPhotoApi.as_view(), name="api-user-photo"),
    path("users/<int:user_id>/suspend", views.UserSuspendApi.as_view(), name="api-user-suspend"),
    path("users/<int:user_id>/activate", views.UserActivateApi.as_view(), name="api-user-activate"),
    path("groups", views.GroupListApi.as_view(), name="api-groups"),
    path("groups/<int:group_id>", views.GroupDetailApi.as_view(), name="api-group"),
    path(
        "groups/<int:group_id>/members",
        views.GroupMemberListApi.as_view(),
        name="api-group-members",
    ),
    path(
        "groups/<int:group_id>/members/<int:user_id>",
        views.GroupMemberApi.as_view(),
        name="api-group-member",
    ),
    path("", include("audit.api")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", docs.ApiDocsView.as_view(), name="api-docs"),
    re_path(r"^", not_found),
]
