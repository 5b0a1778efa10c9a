from django.contrib import messages
from django.db.models import Count
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from directory import selectors, services
from directory.errors import ServiceError

from ..access import console_view
from ..forms import GroupForm, MemberAddForm, SearchForm, add_service_error
from ..paging import paginate
from .common import confirm


def _search(request) -> str:
    form = SearchForm(request.GET)
    return form.cleaned_data["q"] if form.is_valid() else ""


@console_view("groups")
def group_list(request):
    search = _search(request)
    groups = selectors.group_list(organization=request.organization, search=search).annotate(
        member_count=Count("membership")
    )
    return render(
        request,
        "console/groups/list.html",
        {
            "search": search,
            "page": paginate(groups, page=request.GET.get("page")),
        },
    )


@console_view("groups")
def group_detail(request, pk):
    group = selectors.group_get(organization=request.organization, pk=pk)
    members = selectors.group_members(group=group)
    return render(
        request,
        "console/groups/detail.html",
        {
            "group": group,
            "page": paginate(members, page=request.GET.get("page")),
            "add_form": MemberAddForm(),
        },
    )


@console_view("groups")
@require_http_methods(["GET", "POST"])
def group_create(request):
    form = GroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.group_create(
                actor=request.user, organization=request.organization, **form.cleaned_data
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"The group {group.name} was created.")
            return redirect("console:group_detail", pk=group.pk)
    return render(request, "console/groups/form.html", {"form": form, "group": None})


@console_view("groups")
@require_http_methods(["GET", "POST"])
def group_edit(request, pk):
    group = selectors.group_get(organization=request.organization, pk=pk)
    form = GroupForm(
        request.POST or None, initial={"name": group.name, "description": group.description}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.group_update(actor=request.user, group=group, **form.cleaned_data)
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"The group {group.name} was saved.")
            return redirect("console:group_detail", pk=group.pk)
    return render(request, "console/groups/form.html", {"form": form, "group": group})


@console_view("groups")
@require_http_methods(["GET", "POST"])
def group_delete(request, pk):
    group = selectors.group_get(organization=request.organization, pk=pk)
    if request.method != "POST":
        return confirm(
            request,
            title=f"Delete the group {group.name}?",
            message="The group is removed; its members stay in the directory.",
            action="Delete group",
            cancel_url=reverse("console:group_detail", args=[group.pk]),
        )
    services.group_delete(actor=request.user, group=group)
    messages.success(request, f"The group {group.name} was deleted.")
    return redirect("console:groups")


@console_view("groups")
@require_http_methods(["GET", "POST"])
def group_member_add(request, pk):
    """Add a member by email (POST `email`) or by picking one from the list (POST `user`)."""
    group = selectors.group_get(organization=request.organization, pk=pk)
    form = MemberAddForm(request.POST or None)
    if request.method == "POST":
        picked = request.POST.get("user")
        if picked:
            user = selectors.user_get(organization=request.organization, pk=picked)
            return _add(request, group, user)
        if form.is_valid():
            user = selectors.user_by_email(
                organization=request.organization, email=form.cleaned_data["email"]
            )
            if user is None:
                form.add_error("email", "No user of your organization has this email.")
            else:
                return _add(request, group, user)
    search = _search(request)
    candidates = (
        selectors.user_list(organization=request.organization, search=search)
        .exclude(membership__group=group)
        .only("id", "email", "display_name", "first_name", "last_name", "status")
    )
    return render(
        request,
        "console/groups/member_add.html",
        {
            "group": group,
            "form": form,
            "search": search,
            "page": paginate(candidates, page=request.GET.get("page"), per_page=20),
        },
    )


def _add(request, group, user):
    try:
        added = services.group_member_add(actor=request.user, group=group, user=user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        if added:
            messages.success(request, f"{user.email} was added to {group.name}.")
        else:
            messages.info(request, f"{user.email} was already a member of {group.name}.")
    return redirect("console:group_detail", pk=group.pk)


@console_view("groups")
@require_http_methods(["GET", "POST"])
def group_member_remove(request, pk, user_pk):
    group = selectors.group_get(organization=request.organization, pk=pk)
    user = selectors.user_get(organization=request.organization, pk=user_pk)
    detail_url = reverse("console:group_detail", args=[group.pk])
    if request.method != "POST":
        return confirm(
            request,
            title=f"Remove {user.email} from {group.name}?",
            message="They stay in the directory; only the membership ends.",
            action="Remove member",
            cancel_url=detail_url,
        )
    if services.group_member_remove(actor=request.user, group=group, user=user):
        messages.success(request, f"{user.email} was removed from {group.name}.")
    else:
        messages.info(request, f"{user.email} was not a member of {group.name}.")
    return redirect(detail_url)
