"""Console pages for Microsoft 365 tenants: the list, "Connect Microsoft 365", the
callback from Microsoft, and each tenant's page. Thin: reads through
`m365bridge.selectors`, writes through `m365bridge.services`.

The connect flow's `state` is bound to the admin's session: what the callback needs
(MSAL's flow with its PKCE verifier, the organization, the admin) stays in the
server-side session under that state and is used once."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from directory.console.access import console_view
from directory.console.views.common import confirm
from directory.errors import ServiceError

from .. import selectors, services
from ..models import Tenant
from ..secret_expiry import tenant_secret_expiry

SESSION_KEY = "m365_connect"
MAX_PENDING = 5


def _redirect_uri() -> str:
    return settings.BASE_URL.rstrip("/") + reverse("m365:callback")


def _begin(request, *, mode: str, tenant: Tenant | None = None):
    start = services.tenant_connect_begin(
        actor=request.user,
        organization=request.organization,
        mode=mode,
        redirect_uri=_redirect_uri(),
        tenant=tenant,
    )
    pending = dict(request.session.get(SESSION_KEY, {}))
    while len(pending) >= MAX_PENDING:
        pending.pop(next(iter(pending)))
    pending[start.state] = start.pending
    request.session[SESSION_KEY] = pending
    return redirect(start.url)


@console_view("m365")
def tenant_list(request):
    return render(
        request,
        "m365/tenant_list.html",
        {
            "tenants": selectors.tenant_list(organization=request.organization),
        },
    )


@console_view("m365", reauth=True)
@require_http_methods(["GET", "POST"])
def tenant_connect(request):
    error = ""
    mode = request.POST.get("mode", Tenant.DELEGATED)
    if request.method == "POST":
        if mode not in (Tenant.DELEGATED, Tenant.APPLICATION):
            error = "Choose how Stratus should connect: delegated or application."
        else:
            try:
                return _begin(request, mode=mode)
            except ServiceError as exc:
                error = exc.message
    return render(
        request,
        "m365/connect.html",
        {
            "error": error,
            "mode": mode,
            "redirect_uri": _redirect_uri(),
        },
        status=400 if error else 200,
    )


@console_view("m365")
def tenant_callback(request):
    params = request.GET.dict()
    pending = dict(request.session.get(SESSION_KEY, {}))
    flow = pending.pop(params.get("state", ""), None)
    request.session[SESSION_KEY] = pending
    if flow is None:
        return render(
            request,
            "m365/connect.html",
            {
                "error": "This sign-in does not belong to your session (it expired, was already "
                "used, or was started in another browser). Please start again.",
                "mode": Tenant.DELEGATED,
                "redirect_uri": _redirect_uri(),
            },
            status=400,
        )
    try:
        tenant = services.tenant_connect_complete(
            actor=request.user, organization=request.organization, pending=flow, params=params
        )
    except ServiceError as exc:
        return render(
            request,
            "m365/connect.html",
            {
                "error": exc.message,
                "mode": flow.get("mode", Tenant.DELEGATED),
                "redirect_uri": _redirect_uri(),
            },
            status=400,
        )
    verb = "re-authorized" if flow.get("tenant_pk") else "connected"
    messages.success(request, f"Microsoft 365 tenant {tenant} is {verb}.")
    return redirect("m365:tenant", pk=tenant.pk)


@console_view("m365")
def tenant_detail(request, pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    return render(
        request,
        "m365/tenant_detail.html",
        {
            "tenant": tenant,
            "check": selectors.tenant_permission_check(tenant=tenant),
            "domains": tenant.domains.all(),
            "sync_runs": selectors.sync_run_list(tenant=tenant),
            "brake": selectors.tenant_brake_status(tenant=tenant),
            "secret": tenant_secret_expiry(tenant),
        },
    )


@console_view("m365")
@require_POST
def tenant_check(request, pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    if tenant.status == Tenant.DEAUTHORIZED:
        messages.error(request, "This tenant is deauthorized; connect it again first.")
    else:
        tenant = services.tenant_refresh(tenant=tenant)
        if tenant.status == Tenant.CONNECTED and not tenant.last_error:
            messages.success(request, "Domains and permissions were checked again.")
    return redirect("m365:tenant", pk=tenant.pk)


@console_view("m365")
@require_http_methods(["GET", "POST"])
def tenant_reauthorize(request, pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    if request.method == "GET":
        return confirm(
            request,
            title=f"Re-authorize {tenant}",
            message=(
                "You will sign in to Microsoft 365 again (with an admin account of this "
                "tenant). Every binding is kept and sync resumes afterwards."
            ),
            action="Continue to Microsoft",
            cancel_url=reverse("m365:tenant", args=[pk]),
            danger=False,
        )
    try:
        return _begin(request, mode=tenant.mode, tenant=tenant)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("m365:tenant", pk=pk)


@console_view("m365", reauth=True)
@require_http_methods(["GET", "POST"])
def tenant_deauthorize(request, pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    if request.method == "GET":
        return confirm(
            request,
            title=f"Deauthorize {tenant}",
            message=(
                "Stratus deletes this tenant's tokens and unselects every user and group "
                "bound to it. Nothing changes in Microsoft 365: accounts stay enabled "
                "there and active in Stratus. To manage them again you must connect the "
                "tenant and bind the users again."
            ),
            action="Deauthorize",
            cancel_url=reverse("m365:tenant", args=[pk]),
        )
    tenant = services.tenant_deauthorize(actor=request.user, tenant=tenant)
    messages.success(request, f"Microsoft 365 tenant {tenant} is deauthorized.")
    return redirect("m365:tenant", pk=pk)
