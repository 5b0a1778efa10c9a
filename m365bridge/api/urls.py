from django.urls import path

from . import bindings, groups, sync, views

urlpatterns = [
    path("tenants", views.TenantListApi.as_view(), name="api-m365-tenants"),
    path("tenants/<int:tenant_id>", views.TenantDetailApi.as_view(), name="api-m365-tenant"),
    path(
        "tenants/<int:tenant_id>/deauthorize",
        views.TenantDeauthorizeApi.as_view(),
        name="api-m365-tenant-deauthorize",
    ),
    path(
        "tenants/<int:tenant_id>/reauthorize",
        views.TenantReauthorizeApi.as_view(),
        name="api-m365-tenant-reauthorize",
    ),
    path("tenants/<int:tenant_id>/sync", sync.TenantSyncApi.as_view(), name="api-m365-tenant-sync"),
    path(
        "tenants/<int:tenant_id>/users",
        bindings.TenantUsersApi.as_view(),
        name="api-m365-tenant-users",
    ),
    path(
        "tenants/<int:tenant_id>/users/<int:user_id>",
        bindings.TenantUserApi.as_view(),
        name="api-m365-tenant-user",
    ),
    path(
        "tenants/<int:tenant_id>/users/<int:user_id>/sync",
        bindings.TenantUserRetryApi.as_view(),
        name="api-m365-tenant-user-sync",
    ),
    path(
        "tenants/<int:tenant_id>/groups",
        groups.TenantGroupsApi.as_view(),
        name="api-m365-tenant-groups",
    ),
    path(
        "tenants/<int:tenant_id>/groups/<int:group_id>",
        groups.TenantGroupApi.as_view(),
        name="api-m365-tenant-group",
    ),
    path(
        "tenants/<int:tenant_id>/groups/<int:group_id>/sync",
        groups.TenantGroupRetryApi.as_view(),
        name="api-m365-tenant-group-sync",
    ),
]
