from django.urls import path

from . import bindings, group_imports, groups, imports, sync, views

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
    # Import (issue 12)
    path(
        "tenants/<int:tenant_id>/import/users",
        imports.TenantMirrorApi.as_view(),
        name="api-m365-import-users",
    ),
    path(
        "tenants/<int:tenant_id>/import/users/<str:microsoft_id>/link",
        imports.MirroredUserLinkApi.as_view(),
        name="api-m365-import-link",
    ),
    path(
        "tenants/<int:tenant_id>/import/groups",
        group_imports.TenantMirroredGroupsApi.as_view(),
        name="api-m365-import-groups",
    ),
    path(
        "tenants/<int:tenant_id>/import/groups/<str:microsoft_id>/link",
        group_imports.MirroredGroupLinkApi.as_view(),
        name="api-m365-import-group-link",
    ),
    path(
        "tenants/<int:tenant_id>/import/preview",
        imports.TenantImportPreviewApi.as_view(),
        name="api-m365-import-preview",
    ),
    path(
        "tenants/<int:tenant_id>/imports",
        imports.TenantImportsApi.as_view(),
        name="api-m365-imports",
    ),
    path(
        "tenants/<int:tenant_id>/imports/<int:job_id>",
        imports.TenantImportApi.as_view(),
        name="api-m365-import",
    ),
]
