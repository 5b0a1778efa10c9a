"""Console actions on a user's account lifecycle (issue 7): send a reset link, resend
the activation email, lift a sign-in lock. Setting a temporary password is an option of
the "Set password" page (`users.user_password`). An owner also resets a member's
second factors here (`directory.mfa.mfa_reset`)."""

from django.views.decorators.http import require_http_methods

from directory import emails, lifecycle, mfa, signins

from ..access import console_view
from .users import user_action


@console_view("users")
@require_http_methods(["GET", "POST"])
def user_send_reset(request, pk):
    return user_action(
        request,
        pk,
        action=emails.password_reset_send,
        verb="Send reset link",
        title="Send {user.email} a password reset link?",
        message="They receive an email with a link to choose a new password. The link works "
        "once and expires; their current password keeps working until they use it.",
        done="A password reset link was sent to {user.email}.",
        danger=False,
    )


@console_view("users")
@require_http_methods(["GET", "POST"])
def user_send_activation(request, pk):
    return user_action(
        request,
        pk,
        action=emails.activation_send,
        verb="Send activation email",
        title="Send {user.email} the activation email again?",
        message="They receive a new welcome email with a link to choose their first "
        "password. Links sent earlier stop working.",
        done="The activation email was sent to {user.email}.",
        danger=False,
    )


@console_view("users")
@require_http_methods(["GET", "POST"])
def user_unlock(request, pk):
    return user_action(
        request,
        pk,
        action=lifecycle.sign_in_unlock,
        verb="Unlock",
        title="Let {user.email} sign in again now?",
        message="Their account was locked after repeated failed sign-ins. Unlock it only if "
        "you know the failures were theirs.",
        done="{user.email} can sign in again.",
        danger=False,
    )


@console_view("users")
@require_http_methods(["GET", "POST"])
def user_mfa_reset(request, pk):
    return user_action(
        request,
        pk,
        action=mfa.mfa_reset,
        verb="Reset second factor",
        title="Reset the second factor of {user.email}?",
        message="Their authenticator app and recovery codes stop working at once. They set "
        "up a new one at their next sign-in, and are told by email. Do this only once you "
        "are sure who asked (a lost phone).",
        done="The second factor of {user.email} was reset; they were told by email.",
    )


@console_view("users")
@require_http_methods(["GET", "POST"])
def user_sessions_end(request, pk):
    return user_action(
        request,
        pk,
        action=signins.sessions_end_all,
        verb="Sign out everywhere",
        title="Sign {user.email} out of every browser?",
        message="Every console and portal session of theirs ends at once; they can sign in "
        "again with their password (and second factor).",
        done="{user.email} was signed out everywhere.",
    )
