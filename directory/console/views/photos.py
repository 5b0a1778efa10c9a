"""A user's profile photo in the console: its display sizes (for anyone who may see
the user) and the page that sets or removes it (a user edit: admins and owners)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from directory import selectors
from directory.photo_views import photo_form_submit, photo_response

from ..access import console_view


@console_view("users")
@require_GET
def user_photo(request, pk, size):
    user = selectors.user_get(organization=request.organization, pk=pk)
    return photo_response(request, user, size)


@console_view("users")
@require_http_methods(["GET", "POST"])
def user_photo_edit(request, pk):
    user = selectors.user_get(organization=request.organization, pk=pk)
    form, done = photo_form_submit(request, actor=request.user, user=user, source="console")
    if done:
        messages.success(
            request, f"The photo of {user.email} was {'removed' if done == 'removed' else 'saved'}."
        )
        return redirect("console:user_detail", pk=user.pk)
    return render(request, "console/users/photo.html", {"subject": user, "form": form})
