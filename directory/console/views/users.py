from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from directory import hooks, lifecycle, selectors, services
from directory.errors import ServiceError
from directory.passwords import policy_rules

from ..access import console_view
from ..forms import PasswordForm, UserCreateForm, UserFilterForm, UserForm, add_service_error
from ..paging import paginate
from .common import confirm

# The columns the list shows; loading only these keeps each row small.
LIST_COLUMNS = (
    "id",
    "email",
    "display_name",
    "first_name",
    "last_name",
    "role",
    "status",
    "created_at",
    "organization_id",
    "photo",
    "photo_sha256",
)


@console_view("users")
def user_list(request):
    filters = UserFilterForm(request.GET)
    criteria = filters.cleaned_data if filters.is_valid() else {}
    users = selectors.user_list(
        organization=request.organization,
        search=criteria.get("q", ""),
        status=criteria.get("status", ""),
        role=criteria.get("role", ""),
    ).only(*LIST_COLUMNS)
    flags = hooks.user_list_flags()
    users = users.annotate(
        **{f"flag_{f.key}": f.condition(organization=request.organization) for f in flags}
    )
    for flag in flags:
        if criteria.get("service") == flag.key:
            users = users.filter(**{f"flag_{flag.key}": True})
    page = paginate(users, page=request.GET.get("page"))
    for person in page.items:
        person.service_badges = [f.label for f in flags if getattr(person, f"flag_{f.key}")]
    return render(
        request,
        "console/users/list.html",
        {"filters": filters, "filtered": any(criteria.values()), "page": page},
    )


@console_view("users")
def user_detail(request, pk):
    user = selectors.user_get(organization=request.organization, pk=pk)
    return render(
        request,
        "console/users/detail.html",
        {
            "subject": user,
            "groups": user.security_groups.order_by("name"),
            "form": UserForm(initial=UserForm.initial_for(user)),
            "emails": selectors.sent_email_list(organization=request.organization, user=user),
            "locked_until": lifecycle.sign_in_locked_until(user=user),
        },
    )


@console_view("users")
@require_http_methods(["GET", "POST"])
def user_create(request):
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(
                actor=request.user, organization=request.organization, **form.service_arguments()
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(
                request,
                f"{user.email} was added. "
                + (
                    "An activation email is on its way."
                    if form.cleaned_data["send_activation"]
                    else "Set a password to activate the account."
                ),
            )
            return redirect("console:user_detail", pk=user.pk)
    return render(request, "console/users/form.html", {"form": form, "subject": None})


@console_view("users")
@require_http_methods(["GET", "POST"])
def user_edit(request, pk):
    user = selectors.user_get(organization=request.organization, pk=pk)
    form = UserForm(request.POST or None, initial=UserForm.initial_for(user))
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(actor=request.user, user=user, **form.service_arguments())
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"{user.email} was saved.")
            return redirect("console:user_detail", pk=user.pk)
    return render(request, "console/users/form.html", {"form": form, "subject": user})


@console_view("users")
@require_http_methods(["GET", "POST"])
def user_password(request, pk):
    user = selectors.user_get(organization=request.organization, pk=pk)
    form = PasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            temporary = form.cleaned_data["temporary"]
            services.user_set_password(
                actor=request.user,
                user=user,
                password=form.cleaned_data["password"],
                source="admin_temporary" if temporary else "admin",
                must_change=temporary,
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"The password of {user.email} was set.")
            return redirect("console:user_detail", pk=user.pk)
    return render(
        request,
        "console/users/password.html",
        {
            "form": form,
            "subject": user,
            "rules": policy_rules(request.organization),
        },
    )


def user_action(
    request, pk, *, action, verb, title, message, done, danger=True, then="console:user_detail"
):
    """GET asks for confirmation; POST runs the service and reports in a flash message."""
    user = selectors.user_get(organization=request.organization, pk=pk)
    detail_url = reverse("console:user_detail", args=[user.pk])
    if request.method != "POST":
        return confirm(
            request,
            title=title.format(user=user),
            message=message,
            action=verb,
            cancel_url=detail_url,
            danger=danger,
        )
    try:
        action(actor=request.user, user=user)
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect(detail_url)
    messages.success(request, done.format(user=user))
    return redirect(then, pk=user.pk) if then == "console:user_detail" else redirect(then)


@console_view("users")
@require_http_methods(["GET", "POST"])
def user_suspend(request, pk):
    return user_action(
        request,
        pk,
        action=services.user_suspend,
        verb="Suspend",
        title="Suspend {user.email}?",
        message="They can no longer sign in, and their Microsoft 365 accounts are blocked. "
        "Nothing is deleted; you can reactivate them later.",
        done="{user.email} is suspended.",
    )


@console_view("users")
@require_http_methods(["GET", "POST"])
def user_activate(request, pk):
    return user_action(
        request,
        pk,
        action=services.user_activate,
        verb="Reactivate",
        title="Reactivate {user.email}?",
        message="They can sign in again and their Microsoft 365 accounts are unblocked.",
        done="{user.email} is active again.",
        danger=False,
    )


@console_view("users", reauth=True)
@require_http_methods(["GET", "POST"])
def user_delete(request, pk):
    return user_action(
        request,
        pk,
        action=services.user_delete,
        verb="Delete",
        title="Delete {user.email}?",
        message="The user and their group memberships are removed from Stratus for good. "
        "Their Microsoft 365 accounts are blocked, not deleted.",
        done="{user.email} was deleted.",
        then="console:users",
    )
