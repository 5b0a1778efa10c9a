"""Who may enter the console. Every console view is wrapped in `console_view`, the one
place that decides: anonymous people are sent to sign in, members and service
operators without an organization get the "no access" page (403), someone whose
second factor is still to verify or to enrol is led there first
(`directory.mfa.mfa_step`), and admins and owners get in with `request.organization`
set to their own organization."""

from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.urls import reverse

from directory import lifecycle, mfa, roles
from directory.portal.mfa_views import mfa_redirect
from directory.reauth import check_is_recent as reauth_check_is_recent


def console_view(section: str, *, reauth: bool | str = False):
    """Wrap a console view. `section` names the navigation entry to highlight (the base
        template reads it from `request.console_section`). With `reauth`, the view's POST is a
        dangerous action: without a check of the person in the last minutes
        (`directory.reauth`), they are asked to confirm it is them, then sent back to the page
    (or to the URL name `reauth` gives, with the view's own URL arguments, for a view
    that only takes POSTs)."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user.has_console_access:
                return no_access(request)
            if step := mfa.mfa_step(request):
                return mfa_redirect(request, step)
            if lifecycle.user_must_set_password(user):  # expired or temporary: change it first
                return redirect("portal:password_change")
            if reauth and request.method == "POST" and not reauth_check_is_recent(request):
                back = reverse(reauth, kwargs=kwargs) if isinstance(reauth, str) else request.path
                return redirect(f"{reverse('console:reauth')}?{urlencode({'next': back})}")
            if not roles.console_allows(
                role=user.role, view_name=request.resolver_match.view_name, method=request.method
            ):
                return not_for_your_role(request)
            request.organization = user.organization
            request.console_section = section
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def not_for_your_role(request):
    message = roles.NOT_ALLOWED.format(role=roles.role_label(request.user.role))
    return render(request, "console/no_access.html", {"role_message": message}, status=403)


def no_access(request):
    return render(request, "console/no_access.html", status=403)
