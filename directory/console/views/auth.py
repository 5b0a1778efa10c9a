import json

from django.contrib import messages
from django.contrib.auth import login, logout
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from directory import lifecycle, passkeys, signins, signup
from directory import reauth as reauthentication
from directory.errors import InvalidInput, ServiceError
from directory.portal.mfa_views import json_body, json_refused

from ..access import console_view
from ..forms import ReauthForm, SignInForm, SignUpForm, add_service_error


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def sign_in(request):
    form = SignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # The portal's slow-down and lock-out protect the console's sign-in too.
        result = lifecycle.sign_in_attempt(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            address=lifecycle.client_address(request),
            request=request,
        )
        if result.user is not None:
            login(request, result.user)
            signins.sign_in_succeeded(request=request, user=result.user, surface=signins.CONSOLE)
            return redirect(_next_url(request) or "console:dashboard")
        signins.sign_in_failed(
            request=request,
            email=form.cleaned_data["email"],
            surface=signins.CONSOLE,
            reason="throttled" if result.refused else "password",
        )
        failed = "The email or password is not right, or the account is not active."
        if result.refused:
            form.add_error(None, lifecycle.wait_message(result.retry_at))
        elif result.retry_at:
            form.add_error(None, f"{failed} {lifecycle.wait_message(result.retry_at)}")
        else:
            form.add_error(None, failed)
    return render(
        request,
        "console/sign_in.html",
        {
            "form": form,
            "next": _next_url(request),
            "passkey_next": _next_url(request) or reverse("console:dashboard"),
        },
    )


@require_POST
def sign_out(request):
    logout(request)
    messages.success(request, "You are signed out.")
    return redirect("console:login")


SIGNUP_SENT = (
    "Check your inbox: we sent {email} a link to finish. If the address already has an "
    "account, the email says how to sign in instead."
)


def sign_up(request):
    """The same answer for every email (see directory/signup.py): no page says whether
    an address already has an account."""
    form = SignUpForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            signup.signup_request(**form.cleaned_data, address=lifecycle.client_address(request))
        except signup.SignupThrottled as error:
            form.add_error(None, error.message)
            status = 429
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, SIGNUP_SENT.format(email=form.cleaned_data["email"]))
            return redirect("console:login")
    return render(request, "console/sign_up.html", {"form": form}, status=status)


@console_view("settings")
@sensitive_post_parameters("secret")
@require_http_methods(["GET", "POST"])
def reauth(request):
    """ "Confirm it is you" before a dangerous action: the password, or a code from the
    app. Then back to the page the action is on, to submit it again."""
    form = ReauthForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            reauthentication.reauthenticate(request=request, secret=form.cleaned_data["secret"])
        except InvalidInput as error:
            add_service_error(form, error)
        else:
            return redirect(_next_url(request) or "console:dashboard")
    return render(
        request,
        "console/reauth.html",
        {
            "form": form,
            "next": _next_url(request),
            "has_passkey": passkeys.passkey_list(user=request.user).exists(),
        },
    )


@console_view("settings")
@require_POST
def reauth_passkey(request):
    """The "confirm it is you" page's passkey: the browser posts the authenticator's
    answer (static/portal/passkeys.js) and is told where to go next."""
    credential = json.dumps(json_body(request).get("credential"))
    try:
        reauthentication.reauthenticate_with_passkey(request=request, credential=credential)
    except InvalidInput as error:
        return json_refused(error)
    return JsonResponse({"next": _next_url(request) or reverse("console:dashboard")})
