from django.urls import path

from . import bindings, brake, group_imports, imports, licences, sync, views

app_name = "m365"

urlpatterns = [
    path("", views.tenant_list, name="tenants"),
    path("connect/", views.tenant_connect, name="connect"),
    path("callback/", views.tenant_callback, name="callback"),
    path("<int:pk>/", views.tenant_detail, name="tenant"),
    path("<int:pk>/check/", views.tenant_check, name="check"),
    path("<int:pk>/reauthorize/", views.tenant_reauthorize, name="reauthorize"),
    path("<int:pk>/deauthorize/", views.tenant_deauthorize, name="deauthorize"),
    path("<int:pk>/sync/", sync.tenant_reconcile_now, name="sync"),
    path("<int:pk>/sync/preview/", sync.tenant_sync_preview, name="sync_preview"),
    path("<int:pk>/reconcile-interval/", sync.tenant_reconcile_interval, name="reconcile_interval"),
    path("<int:pk>/licences/", licences.tenant_licences, name="licences"),
    path("<int:pk>/held/release/", brake.held_blocks_release, name="held_release"),
    path("<int:pk>/held/discard/", brake.held_blocks_discard, name="held_discard"),
    path("<int:pk>/brake/", brake.tenant_brake_update, name="brake"),
    # Binding users (provisioning)
    path("bind/", bindings.users_bind, name="users_bind"),
    path("users/<int:user_pk>/bind/", bindings.user_bind, name="user_bind"),
    path("users/<int:user_pk>/unbind/", bindings.user_unbind, name="user_unbind"),
    path("users/<int:user_pk>/sync/", bindings.user_sync, name="user_sync"),
    path("bindings/<int:binding_pk>/retry/", bindings.binding_retry, name="binding_retry"),
    path("<int:pk>/retry-failed/", bindings.tenant_retry_failed, name="retry_failed"),
    # Security groups (G1)
    path("groups/<int:group_pk>/bind/", bindings.group_bind, name="group_bind"),
    path("group-bindings/<int:binding_pk>/unbind/", bindings.group_unbind, name="group_unbind"),
    path(
        "group-bindings/<int:binding_pk>/retry/",
        bindings.group_binding_retry,
        name="group_binding_retry",
    ),
    path(
        "<int:pk>/retry-failed-groups/",
        bindings.tenant_groups_retry_failed,
        name="retry_failed_groups",
    ),
    path("<int:pk>/status.json", bindings.tenant_status, name="tenant_status"),
    # Import from Microsoft 365 (issue 12)
    path("<int:pk>/import/", imports.tenant_import, name="import"),
    path("<int:pk>/import/preview/", imports.tenant_import_preview, name="import_preview"),
    path("<int:pk>/import/start/", imports.tenant_import_start, name="import_start"),
    path("<int:pk>/imports/<int:job_pk>/", imports.tenant_import_job, name="import_job"),
    path("<int:pk>/import/groups/", group_imports.tenant_import_groups, name="import_groups"),
    path(
        "<int:pk>/import/groups/preview/",
        group_imports.tenant_import_groups_preview,
        name="import_groups_preview",
    ),
    path(
        "<int:pk>/import/groups/<str:microsoft_id>/link/",
        group_imports.mirrored_group_link,
        name="import_group_link",
    ),
    path(
        "<int:pk>/import/users/<str:microsoft_id>/link/",
        imports.mirrored_user_link,
        name="import_link",
    ),
]
