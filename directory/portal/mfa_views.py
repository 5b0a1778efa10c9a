"""The second-factor pages, shared by the console and the portal (everyone who signs in
is a user of the directory): verify a code after the password, set up an authenticator
app, see and renew recovery codes. Each is thin and calls `directory.mfa`."""

import json
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from directory import mfa, passkeys, signins
from directory.errors import InvalidInput, NotAllowed

from .forms import MfaCodeForm

NOT_NOW = "Sign in first; to add a passkey, confirm your current factor first."


def mfa_redirect(request, step: str):
    """To the page that verifies or enrols a second factor, coming back here after."""
    name = "portal:mfa_verify" if step == mfa.VERIFY else "portal:mfa_enrol"
    return redirect(f"{reverse(name)}?{urlencode({'next': request.get_full_path()})}")


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("portal:home")


def _signed_in(request):
    user = request.user
    return user.is_authenticated and user.organization_id is not None


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def mfa_verify(request):
    """After the password: a code from the app, or one recovery code."""
    if not _signed_in(request):
        return redirect("portal:sign_in")
    if mfa.mfa_step(request) != mfa.VERIFY:
        return redirect(_next(request))
    form = MfaCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            method = mfa.mfa_verify(request=request, code=form.cleaned_data["code"])
        except InvalidInput as error:
            form.add_service_error(error)
        else:
            signins.factor_passed(request=request, mfa_method=method)
            if method == mfa.RECOVERY_CODE:
                left = mfa.recovery_codes_left(user=request.user)
                messages.warning(
                    request,
                    f"You used a recovery code; {left} left. Set up your app again or make "
                    "new codes on your security page.",
                )
            return redirect(_next(request))
    return render(
        request,
        "portal/mfa_verify.html",
        {
            "form": form,
            "next": _next(request),
            "has_passkey": passkeys.passkey_list(user=request.user).exists(),
        },
    )


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def mfa_enrol(request):
    """Set up an authenticator app. Someone who already has one must have verified it in
    this session first: a password alone never adds a factor."""
    if not _signed_in(request):
        return redirect("portal:sign_in")
    if mfa.mfa_step(request) == mfa.VERIFY:
        return mfa_redirect(request, mfa.VERIFY)
    user = request.user
    device = mfa.totp_enrolment(user=user)
    form = MfaCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            enrolled = mfa.totp_enrol_confirm(user=user, code=form.cleaned_data["code"])
        except InvalidInput as error:
            form.add_service_error(error)
        else:
            mfa.session_verified_by(request, enrolled.device)
            return render(
                request,
                "portal/mfa_recovery_codes.html",
                {"codes": enrolled.recovery_codes, "next": _next(request), "new_app": True},
            )
    return render(
        request,
        "portal/mfa_enrol.html",
        {
            "form": form,
            "next": _next(request),
            "qr_svg": mfa.totp_qr_svg(device),
            "secret": mfa.totp_secret_text(device),
            "required": mfa.mfa_required(user),
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
def mfa_settings(request):
    """The person's factors, and new recovery codes (shown once, in the POST's answer)."""
    if not _signed_in(request):
        return redirect(f"{reverse('portal:sign_in')}?{urlencode({'next': request.path})}")
    if step := mfa.mfa_step(request):
        return mfa_redirect(request, step)
    user = request.user
    if request.method == "POST":
        try:
            codes = mfa.recovery_codes_regenerate(user=user)
        except NotAllowed as error:
            messages.error(request, error.message)
            return redirect("portal:mfa")
        return render(
            request,
            "portal/mfa_recovery_codes.html",
            {"codes": codes, "next": reverse("portal:mfa"), "new_app": False},
        )
    return render(
        request,
        "portal/mfa.html",
        {
            "sessions": signins.session_list(user=user),
            "current_session": request.session.session_key,
            "has_factor": mfa.user_has_factor(user),
            "passkeys": passkeys.passkey_list(user=user),
            "codes_left": mfa.recovery_codes_left(user=user),
            "required": mfa.mfa_required(user),
        },
    )


# --- passkeys (directory.passkeys): JSON steps the page's script calls ---------------------


def json_body(request) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def json_refused(error: InvalidInput, status: int = 400) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": error.code, "message": error.message, "fields": error.fields}},
        status=status,
    )


def _may_add_factor(request) -> bool:
    return _signed_in(request) and mfa.mfa_step(request) != mfa.VERIFY


@never_cache
@require_POST
def passkey_register_options(request):
    if not _may_add_factor(request):
        return JsonResponse({"error": {"code": "not_allowed", "message": NOT_NOW}}, status=403)
    return HttpResponse(
        passkeys.registration_options(request=request), content_type="application/json"
    )


@never_cache
@require_POST
def passkey_register(request):
    if not _may_add_factor(request):
        return JsonResponse({"error": {"code": "not_allowed", "message": NOT_NOW}}, status=403)
    body = json_body(request)
    try:
        codes = passkeys.registration_finish(
            request=request,
            credential=json.dumps(body.get("credential")),
            name=str(body.get("name") or ""),
        )
    except InvalidInput as error:
        return json_refused(error)
    return JsonResponse({"recovery_codes": codes, "next": _next(request)})


@never_cache
@require_POST
def passkey_sign_in_options(request):
    if not _signed_in(request):
        return JsonResponse({"error": {"code": "not_signed_in", "message": NOT_NOW}}, status=403)
    return HttpResponse(
        passkeys.authentication_options(request=request), content_type="application/json"
    )


@never_cache
@require_POST
def passkey_sign_in(request):
    if not _signed_in(request):
        return JsonResponse({"error": {"code": "not_signed_in", "message": NOT_NOW}}, status=403)
    body = json_body(request)
    try:
        passkeys.authentication_finish(
            request=request, credential=json.dumps(body.get("credential"))
        )
    except InvalidInput as error:
        return json_refused(error)
    signins.factor_passed(request=request, mfa_method=mfa.PASSKEY)
    return JsonResponse({"next": _next(request)})


@never_cache
@require_POST
def sessions_end_others(request):
    """Sign out everywhere else (this browser stays signed in)."""
    if not _signed_in(request):
        return redirect("portal:sign_in")
    if step := mfa.mfa_step(request):
        return mfa_redirect(request, step)
    ended = signins.sessions_end_others(request=request)
    messages.success(request, f"{ended} other session{'s' if ended != 1 else ''} signed out.")
    return redirect("portal:mfa")


@never_cache
@require_POST
def passkey_passwordless_options(request):
    return HttpResponse(
        passkeys.passwordless_options(request=request), content_type="application/json"
    )


@never_cache
@require_POST
def passkey_passwordless(request):
    """Sign in with a passkey alone, from the console's or the portal's sign-in page."""
    body = json_body(request)
    try:
        device = passkeys.passwordless_finish(
            request=request, credential=json.dumps(body.get("credential"))
        )
    except InvalidInput as error:
        return json_refused(error)
    login(request, device.user, backend="directory.auth.EmailBackend")
    mfa.session_verified_by(request, device)
    surface = signins.CONSOLE if _next(request).startswith("/console/") else signins.PORTAL
    signins.sign_in_completed(
        request=request, user=device.user, surface=surface, mfa_method=mfa.PASSKEY
    )
    return JsonResponse({"next": _next(request)})
