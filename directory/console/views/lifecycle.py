"""Console actions on a user's account lifecycle (issue 7): send a reset link, resend
the activation email, lift a sign-in lock. Setting a temporary password is an option of
the "Set password" page (`users.user_password`)."""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from directory import lifecycle, selectors
from directory.errors import ServiceError

from ..access import console_view
from .common import confirm


def _lifecycle_action(request, pk, *, action, verb, title, message, done):
    user = selectors.user_get(organization=request.organization, pk=pk)
    detail_url = reverse("console:user_detail", args=[user.pk])
    if request.method != "POST":
        return confirm(
            request,
            title=title.format(user=user),
            message=message,
            action=verb,
            cancel_url=detail_url,
            danger=False,
        )
    try:
        action(actor=request.user, user=user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done.format(user=user))
    return redirect(detail_url)


@console_view("users")
@require_http_methods(["GET", "POST"])
def user_send_reset(request, pk):
    return _lifecycle_action(
        request,
        pk,
        action=lifecycle.password_reset_send,
        verb="Send reset link",
        title="Send {user.email} a password reset link?",
        message="They receive an email with a link to choose a new password. The link works "
        "once and expires; their current password keeps working until they use it.",
        done="A password reset link was sent to {user.email}.",
    )


@console_view("users")
@require_http_methods(["GET", "POST"])
def user_send_activation(request, pk):
    return _lifecycle_action(
        request,
        pk,
        action=lifecycle.activation_send,
        verb="Send activation email",
        title="Send {user.email} the activation email again?",
        message="They receive a new welcome email with a link to choose their first "
        "password. Links sent earlier stop working.",
        done="The activation email was sent to {user.email}.",
    )


@console_view("users")
@require_http_methods(["GET", "POST"])
def user_unlock(request, pk):
    return _lifecycle_action(
        request,
        pk,
        action=lifecycle.sign_in_unlock,
        verb="Unlock",
        title="Let {user.email} sign in again now?",
        message="Their account was locked after repeated failed sign-ins. Unlock it only if "
        "you know the failures were theirs.",
        done="{user.email} can sign in again.",
    )
