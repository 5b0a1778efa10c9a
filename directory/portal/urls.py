from django.urls import path

from . import mfa_views, views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in/", views.sign_in, name="sign_in"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("password/", views.password_change, name="password_change"),
    path("photo/", views.photo_edit, name="photo_edit"),
    path("photo/<int:size>/", views.photo, name="photo"),
    path("security/", mfa_views.mfa_settings, name="mfa"),
    path("security/verify/", mfa_views.mfa_verify, name="mfa_verify"),
    path(
        "security/sessions/end-others/",
        mfa_views.sessions_end_others,
        name="sessions_end_others",
    ),
    path("security/enrol/", mfa_views.mfa_enrol, name="mfa_enrol"),
    path(
        "security/passkeys/register/options/",
        mfa_views.passkey_register_options,
        name="passkey_register_options",
    ),
    path("security/passkeys/register/", mfa_views.passkey_register, name="passkey_register"),
    path(
        "security/passkeys/sign-in/options/",
        mfa_views.passkey_sign_in_options,
        name="passkey_sign_in_options",
    ),
    path("security/passkeys/sign-in/", mfa_views.passkey_sign_in, name="passkey_sign_in"),
    path(
        "passkey/options/",
        mfa_views.passkey_passwordless_options,
        name="passkey_passwordless_options",
    ),
    path("passkey/", mfa_views.passkey_passwordless, name="passkey_passwordless"),
    path("services.json", views.services_status, name="services_status"),
    path("forgot/", views.forgot, name="forgot"),
    path("forgot/sent/", views.forgot_sent, name="forgot_sent"),
    path("activate/<str:token>/", views.activate, name="activate"),
    path("reset/<str:token>/", views.reset, name="reset"),
    path("dev/mail/", views.dev_mail, name="dev_mail"),
]
