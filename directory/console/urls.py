from django.urls import path

from .views import auth, dashboard, events, groups, lifecycle, organization, photos, users

app_name = "console"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("sign-in/", auth.sign_in, name="login"),
    path("sign-out/", auth.sign_out, name="logout"),
    path("sign-up/", auth.sign_up, name="signup"),
    path("confirm-it-is-you/", auth.reauth, name="reauth"),
    path("confirm-it-is-you/passkey/", auth.reauth_passkey, name="reauth_passkey"),
    path("users/", users.user_list, name="users"),
    path("users/new/", users.user_create, name="user_create"),
    path("users/<int:pk>/", users.user_detail, name="user_detail"),
    path("users/<int:pk>/edit/", users.user_edit, name="user_edit"),
    path("users/<int:pk>/password/", users.user_password, name="user_password"),
    path("users/<int:pk>/photo/", photos.user_photo_edit, name="user_photo_edit"),
    path("users/<int:pk>/photo/<int:size>/", photos.user_photo, name="user_photo"),
    path("users/<int:pk>/suspend/", users.user_suspend, name="user_suspend"),
    path("users/<int:pk>/activate/", users.user_activate, name="user_activate"),
    path("users/<int:pk>/delete/", users.user_delete, name="user_delete"),
    path("users/<int:pk>/send-reset/", lifecycle.user_send_reset, name="user_send_reset"),
    path(
        "users/<int:pk>/send-activation/",
        lifecycle.user_send_activation,
        name="user_send_activation",
    ),
    path("users/<int:pk>/unlock/", lifecycle.user_unlock, name="user_unlock"),
    path("users/<int:pk>/mfa-reset/", lifecycle.user_mfa_reset, name="user_mfa_reset"),
    path("users/<int:pk>/sessions/end/", lifecycle.user_sessions_end, name="user_sessions_end"),
    path("groups/", groups.group_list, name="groups"),
    path("groups/new/", groups.group_create, name="group_create"),
    path("groups/<int:pk>/", groups.group_detail, name="group_detail"),
    path("groups/<int:pk>/edit/", groups.group_edit, name="group_edit"),
    path("groups/<int:pk>/delete/", groups.group_delete, name="group_delete"),
    path("groups/<int:pk>/members/add/", groups.group_member_add, name="group_member_add"),
    path(
        "groups/<int:pk>/members/<int:user_pk>/remove/",
        groups.group_member_remove,
        name="group_member_remove",
    ),
    path("settings/", organization.organization_settings, name="settings"),
    path("settings/mfa/", organization.mfa_policy, name="mfa_policy"),
    path("api-keys/", organization.api_key_list, name="api_keys"),
    path("api-keys/<int:pk>/revoke/", organization.api_key_revoke, name="api_key_revoke"),
    path("events/", events.event_list, name="events"),
    path("events/export.<str:format>", events.event_export, name="events_export"),
]
