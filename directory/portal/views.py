"""Portal views: thin, each calls `directory.lifecycle` or a portal selector. None takes
an id: a signed-in user can only ever reach their own account."""

import email
import email.policy
import functools
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from directory import lifecycle, mfa, signins
from directory.errors import InvalidInput
from directory.models import AccountToken
from directory.photo_views import photo_form_submit, photo_response

from . import selectors
from .forms import ChangePasswordForm, ForgotForm, NewPasswordForm, SignInForm
from .mfa_views import mfa_redirect

SIGN_IN_FAILED = "The email or password is not correct."
FORGOT_SENT = (
    "If that address belongs to an account, we have sent it a link to choose a "
    "new password. The link works once and expires in {minutes} minutes."
)


def portal_user_required(view=None, *, password_change_allowed: bool = False):
    """Only a signed-in member of an organization. While their password is expired or
    temporary, the only page they may see is the one to change it."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated or user.organization_id is None:
                url = reverse("portal:sign_in")
                return redirect(f"{url}?{urlencode({'next': request.path})}")
            if step := mfa.mfa_step(request):
                return mfa_redirect(request, step)
            if not password_change_allowed and lifecycle.user_must_set_password(user):
                return redirect("portal:password_change")
            return view(request, *args, **kwargs)

        return never_cache(wrapper)

    return decorate(view) if view else decorate


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@never_cache
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def sign_in(request):
    form = SignInForm(request.POST or None, initial={"email": request.GET.get("email", "")})
    next_url = _safe_next(request, reverse("portal:home"))
    if request.method == "POST" and form.is_valid():
        result = lifecycle.sign_in_attempt(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            address=lifecycle.client_address(request),
            request=request,
        )
        if result.user is not None:
            login(request, result.user)
            signins.sign_in_succeeded(request=request, user=result.user, surface=signins.PORTAL)
            if lifecycle.user_must_set_password(result.user):
                return redirect("portal:password_change")
            return redirect(next_url)
        signins.sign_in_failed(
            request=request,
            email=form.cleaned_data["email"],
            surface=signins.PORTAL,
            reason="throttled" if result.refused else "password",
        )
        if result.refused:
            form.add_error(None, lifecycle.wait_message(result.retry_at))
        elif result.retry_at:
            form.add_error(None, f"{SIGN_IN_FAILED} {lifecycle.wait_message(result.retry_at)}")
        else:
            form.add_error(None, SIGN_IN_FAILED)
    return render(request, "portal/sign_in.html", {"form": form, "next": next_url})


@require_POST
def sign_out(request):
    logout(request)
    return redirect("portal:sign_in")


@portal_user_required
@require_GET
def home(request):
    user = request.user
    return render(
        request,
        "portal/home.html",
        {
            "profile": selectors.portal_profile(user=user),
            "groups": selectors.portal_groups(user=user),
            "services": selectors.portal_services(user=user),
            "expires_at": selectors.portal_password_expiry(user=user),
            "changed_just_now": user.password_changed_at is not None
            and (timezone.now() - user.password_changed_at).total_seconds() < 60,
        },
    )


@portal_user_required
@require_GET
def photo(request, size):
    """The signed-in user's own photo (a display size)."""
    return photo_response(request, request.user, size)


@portal_user_required
@require_http_methods(["GET", "POST"])
def photo_edit(request):
    form, done = photo_form_submit(request, actor=request.user, user=request.user, source="portal")
    if done:
        messages.success(
            request, "Your photo was removed." if done == "removed" else "Your photo was saved."
        )
        return redirect("portal:home")
    return render(request, "portal/photo.html", {"form": form})


@portal_user_required
@require_GET
def services_status(request):
    rows = selectors.portal_services(user=request.user)
    return JsonResponse({"services": [row.as_json() for row in rows]})


@portal_user_required(password_change_allowed=True)
@sensitive_post_parameters("current_password", "new_password", "confirm_password")
@require_http_methods(["GET", "POST"])
def password_change(request):
    user = request.user
    form = ChangePasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            lifecycle.password_change(
                user=user,
                current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["new_password"],
            )
        except InvalidInput as error:
            form.add_service_error(error)
        else:
            update_session_auth_hash(request, user)
            messages.success(request, "Your password was changed.")
            return redirect("portal:home")
    return render(
        request,
        "portal/password_change.html",
        {
            "form": form,
            "rules": selectors.portal_password_rules(user=user),
            "forced": lifecycle.user_must_set_password(user),
            "expired": lifecycle.password_is_expired(user),
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
def forgot(request):
    form = ForgotForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        lifecycle.password_reset_request(email=form.cleaned_data["email"])
        return redirect("portal:forgot_sent")
    return render(request, "portal/forgot.html", {"form": form})


@require_GET
def forgot_sent(request):
    minutes = max(1, round(settings.PASSWORD_RESET_TIMEOUT / 60))
    return render(
        request, "portal/forgot_sent.html", {"message": FORGOT_SENT.format(minutes=minutes)}
    )


def _token_page(request, token: str, purpose: str, template: str):
    row = lifecycle.token_find(token=token, purpose=purpose)
    if row is None:
        response = render(
            request, "portal/link_invalid.html", {"message": lifecycle.LINK_INVALID}, status=404
        )
    else:
        form = NewPasswordForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                lifecycle.token_redeem(
                    token=token, purpose=purpose, password=form.cleaned_data["new_password"]
                )
            except InvalidInput as error:
                form.add_service_error(error)
            else:
                messages.success(request, "Your password is set. Sign in with it now.")
                return redirect(f"{reverse('portal:sign_in')}?email={row.user.email}")
        response = render(
            request,
            template,
            {
                "form": form,
                "account": row.user,
                "rules": selectors.portal_password_rules(user=row.user),
            },
        )
    # The token is in the address: never let it leak to another site through Referer.
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@sensitive_post_parameters("new_password", "confirm_password")
@require_http_methods(["GET", "POST"])
def activate(request, token: str):
    return _token_page(request, token, AccountToken.ACTIVATION, "portal/activate.html")


@never_cache
@sensitive_post_parameters("new_password", "confirm_password")
@require_http_methods(["GET", "POST"])
def reset(request, token: str):
    return _token_page(request, token, AccountToken.RESET, "portal/reset.html")


@never_cache
@require_GET
def dev_mail(request):
    """Development only: the messages the file email backend wrote to EMAIL_FILE_PATH,
    newest first, so activation and reset links can be followed without a mail server."""
    if not settings.DEBUG:
        raise Http404("Only in development.")
    folder = Path(settings.EMAIL_FILE_PATH)
    files = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True)[:30]
    mails = [mail for path in files for mail in reversed(_read_mail_file(path))]
    return render(request, "portal/dev_mail.html", {"mails": mails[:50], "folder": folder})


def _read_mail_file(path: Path) -> list[dict]:
    mails = []
    separator = "-" * 79
    for chunk in path.read_text(errors="replace").split(separator):
        chunk = chunk.strip()
        if not chunk:
            continue
        message = email.message_from_string(chunk, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        mails.append(
            {
                "subject": message["subject"],
                "to": message["to"],
                "date": message["date"],
                "text": body.get_content() if body else "",
                "file": path.name,
            }
        )
    return mails
