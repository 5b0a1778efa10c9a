"""Console pages for binding users to Microsoft 365 (DESIGN P1-P4): the bind dialog
(one user from their page, many from the users list), unbind, "sync now", retry, and
the tenant's provisioning status as JSON for the progress bar. Thin: reads through
`m365bridge.selectors`, writes through `m365bridge.services`."""

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from directory import selectors as directory_selectors
from directory.console.access import console_view
from directory.console.views.common import confirm
from directory.errors import ServiceError
from directory.models import User

from .. import graph, selectors, services

MAX_BULK = 5000


def _selected_users(request) -> list[User]:
    """The users picked on the users list (their ids, this organization's only)."""
    ids = []
    for value in request.POST.getlist("user_ids")[:MAX_BULK]:
        try:
            ids.append(int(value))
        except ValueError:
            continue
    group_id = request.POST.get("group_id")
    users = User.objects.for_organization(request.organization)
    if group_id:
        group = directory_selectors.group_get(organization=request.organization, pk=group_id)
        return list(users.filter(security_groups=group).order_by("email")[:MAX_BULK])
    return list(users.filter(pk__in=ids).order_by("email"))


def _password_counts(users: list[User]) -> dict:
    """What the bind dialog says about passwords: who will get a random one until their
    next portal sign-in (Stratus does not hold theirs), who until they activate."""
    missing, staged = selectors.users_without_held_password(users=users)
    return {"password_missing": missing, "password_staged": staged}


def _notify_pending(request, users: list[User]) -> None:
    """With "email them a sign-in link" ticked, ask the bound users whose password
    Stratus does not hold to sign in to the portal once."""
    if request.POST.get("email_pending") != "1":
        return
    queued = services.password_pending_notify(actor=request.user, users=users)
    if queued:
        messages.info(
            request,
            f"Emailed {queued} user{'s' if queued != 1 else ''} a link to sign in to the "
            "portal; their Microsoft 365 password is set when they do.",
        )


def _previews(request, grouped: dict) -> list:
    """A preview per tenant of what binding these users would send (nothing is sent)."""
    previews = []
    for tenant, members in grouped.items():
        if tenant is None:
            continue
        try:
            previews.append((tenant, services.users_bind_preview(tenant=tenant, users=members)))
        except (ServiceError, graph.GraphError) as exc:
            messages.error(request, f"No preview for {tenant}: {getattr(exc, 'message', exc)}")
    return previews


@console_view("users")
@require_POST
def users_bind(request):
    """Bulk "Bind to Microsoft 365": first the dialog (what will happen, per tenant), then,
    confirmed, the bind itself with a result per user."""
    users = _selected_users(request)
    if not users:
        messages.error(request, "Select at least one user to bind.")
        return redirect("console:users")
    if request.POST.get("confirm") != "1":
        grouped = selectors.tenants_for_users(organization=request.organization, users=users)
        return render(
            request,
            "m365/bind_confirm.html",
            {
                "users": users,
                "groups": [(t, members) for t, members in grouped.items()],
                "group_id": request.POST.get("group_id", ""),
                "previews": _previews(request, grouped) if request.POST.get("preview") else [],
                **_password_counts(users),
            },
        )
    results = services.users_bind_to_their_tenants(
        actor=request.user, organization=request.organization, users=users
    )
    _notify_pending(request, users)
    tenants = {r.binding.tenant for r in results if r.ok and r.binding is not None}
    return render(
        request,
        "m365/bind_results.html",
        {
            "results": results,
            "tenants": sorted(tenants, key=str),
            "bound": sum(1 for r in results if r.ok),
            "refused": [r for r in results if not r.ok],
        },
    )


@console_view("users")
@require_http_methods(["GET", "POST"])
def user_bind(request, user_pk):
    user = directory_selectors.user_get(organization=request.organization, pk=user_pk)
    grouped = selectors.tenants_for_users(organization=request.organization, users=[user])
    tenant = next(iter(grouped))
    if request.method == "GET":
        return render(
            request,
            "m365/bind_confirm.html",
            {
                "users": [user],
                "groups": list(grouped.items()),
                "single": user,
                "previews": _previews(request, grouped) if request.GET.get("preview") else [],
                **_password_counts([user]),
            },
        )
    if tenant is None:
        messages.error(
            request,
            "No connected Microsoft 365 tenant has this user's email domain as a verified domain.",
        )
        return redirect("console:user_detail", pk=user.pk)
    try:
        services.user_bind(actor=request.user, tenant=tenant, user=user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"{user.email} is bound to {tenant}; the Microsoft 365 account is being created.",
        )
        _notify_pending(request, [user])
    return redirect("console:user_detail", pk=user.pk)


@console_view("users")
@require_http_methods(["GET", "POST"])
def user_unbind(request, user_pk):
    user = directory_selectors.user_get(organization=request.organization, pk=user_pk)
    binding = selectors.binding_for_user(organization=request.organization, user=user)
    cancel = reverse("console:user_detail", args=[user.pk])
    if binding is None or not binding.bound:
        messages.info(request, f"{user.email} is not bound to Microsoft 365.")
        return redirect(cancel)
    if request.method == "GET":
        return confirm(
            request,
            title=f"Unbind {user.email} from {binding.tenant}",
            message=(
                "Stratus blocks sign-in to this person's Microsoft 365 account "
                "(accountEnabled = false) and stops managing it. The account and its "
                "mailbox are not deleted; binding the user again unblocks it. The "
                "password Stratus keeps for Microsoft 365 is deleted now."
            ),
            action="Unbind and block sign-in",
            cancel_url=cancel,
        )
    services.user_unbind(actor=request.user, user=user)
    messages.success(
        request, f"{user.email} is being unbound; sign-in to Microsoft 365 is being blocked."
    )
    return redirect(cancel)


@console_view("users")
@require_POST
def user_sync(request, user_pk):
    """ "Sync now": send every synced attribute again (overwriting edits made in
    Microsoft 365) and retry whatever failed."""
    user = directory_selectors.user_get(organization=request.organization, pk=user_pk)
    binding = selectors.binding_for_user(organization=request.organization, user=user)
    if binding is None:
        messages.info(request, f"{user.email} is not bound to Microsoft 365.")
    else:
        services.binding_retry(actor=request.user, binding=binding, resend=True)
        messages.success(request, f"{user.email} is being synced to {binding.tenant}.")
    return redirect("console:user_detail", pk=user.pk)


@console_view("m365")
@require_POST
def binding_retry(request, binding_pk):
    binding = selectors.binding_get(organization=request.organization, pk=binding_pk)
    services.binding_retry(actor=request.user, binding=binding)
    messages.success(request, f"{binding.user_label} will be tried again now.")
    if request.POST.get("next") == "user" and binding.user_id:
        return redirect("console:user_detail", pk=binding.user_id)
    return redirect("m365:tenant", pk=binding.tenant_id)


@console_view("m365")
@require_POST
def tenant_retry_failed(request, pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    count = services.bindings_retry_failed(actor=request.user, tenant=tenant)
    messages.success(
        request,
        f"{count} failed binding{'' if count == 1 else 's'} will be tried again now."
        if count
        else "No binding has failed.",
    )
    return redirect("m365:tenant", pk=tenant.pk)


@console_view("m365")
@require_GET
def tenant_status(request, pk):
    """What the tenant page polls while a bulk bind runs: counts per state and the
    latest bulk bind's progress."""
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    return JsonResponse(
        {
            "counts": selectors.binding_state_counts(tenant=tenant),
            "progress": selectors.bind_run_progress(tenant=tenant),
        }
    )


# --- security groups (G1) ---------------------------------------------------------------------


def _group_previews(request, group) -> list:
    """With ?preview=<tenant id>: what syncing the group to that tenant would send."""
    if not request.GET.get("preview"):
        return []
    tenant = selectors.tenant_get(organization=request.organization, pk=request.GET["preview"])
    try:
        return [(tenant, services.group_bind_preview(tenant=tenant, group=group))]
    except (ServiceError, graph.GraphError) as exc:
        messages.error(request, f"No preview for {tenant}: {getattr(exc, 'message', exc)}")
        return []


@console_view("groups")
@require_http_methods(["GET", "POST"])
def group_bind(request, group_pk):
    """ "Sync this group to Microsoft 365 as a security group": on GET what will happen
    (and which tenant), confirmed by POST."""
    group = directory_selectors.group_get(organization=request.organization, pk=group_pk)
    cancel = reverse("console:group_detail", args=[group.pk])
    bound = {
        b.tenant_id
        for b in selectors.group_bindings_for_group(organization=request.organization, group=group)
    }
    tenants = [
        t
        for t in selectors.tenant_list(
            organization=request.organization, include_deauthorized=False
        )
        if t.pk not in bound
    ]
    if request.method == "GET":
        return render(
            request,
            "m365/group_bind_confirm.html",
            {
                "group": group,
                "tenants": tenants,
                "cancel_url": cancel,
                "previews": _group_previews(request, group),
            },
        )
    tenant = next((t for t in tenants if str(t.pk) == request.POST.get("tenant", "")), None)
    if tenant is None:
        messages.error(request, "Choose a connected Microsoft 365 tenant to sync this group to.")
        return redirect(cancel)
    try:
        services.group_bind(actor=request.user, tenant=tenant, group=group)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"{group.name} is being created in {tenant} as a security group with its "
            "members that have an account there.",
        )
    return redirect(cancel)


@console_view("groups")
@require_http_methods(["GET", "POST"])
def group_unbind(request, binding_pk):
    binding = selectors.group_binding_get(organization=request.organization, pk=binding_pk)
    cancel = reverse("console:group_detail", args=[binding.group_id])
    if request.method == "GET":
        return confirm(
            request,
            title=f"Stop syncing {binding.group.name} to {binding.tenant}",
            message=(
                "Stratus stops managing this security group in Microsoft 365. The group "
                "is not deleted there (deleting a security group cannot be undone) and "
                "keeps its current members; later changes in Stratus are no longer sent."
            ),
            action="Stop syncing",
            cancel_url=cancel,
        )
    services.group_unbind(actor=request.user, binding=binding)
    messages.success(
        request,
        f"{binding.group.name} is no longer synced to {binding.tenant}; "
        "the Microsoft 365 group was kept.",
    )
    return redirect(cancel)


@console_view("groups")
@require_POST
def group_binding_retry(request, binding_pk):
    binding = selectors.group_binding_get(organization=request.organization, pk=binding_pk)
    services.group_binding_retry(actor=request.user, binding=binding)
    messages.success(request, f"{binding.group.name} is being synced to {binding.tenant} again.")
    return redirect("console:group_detail", pk=binding.group_id)


@console_view("m365")
@require_POST
def tenant_groups_retry_failed(request, pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    count = services.group_bindings_retry_failed(actor=request.user, tenant=tenant)
    messages.success(request, f"{count} failed group{'s' if count != 1 else ''} retried.")
    return redirect("m365:tenant", pk=tenant.pk)
