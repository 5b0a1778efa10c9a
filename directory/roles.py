"""What each role may do, for the console (`directory.console.access.console_view`) and
the API (`directory.api.permissions`): the one table of rights. Owners and admins may use
every page and endpoint (a few actions are owner-only in their services). Helpdesk reads
users and groups and helps people sign in: set or reset a password, send a reset link or
the activation email again, unlock a sign-in. Read-only sees everything, exports events
and changes nothing. Members have no console or API access at all."""

from .models import User

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FULL = frozenset({User.OWNER, User.ADMIN})

# Pages every console role may use, whatever the method: confirming it is you.
CONSOLE_ANYONE = frozenset({"console:reauth"})
# Pages helpdesk may read (GET), and the actions it may take (GET for the form or the
# confirmation, POST to do it).
HELPDESK_CONSOLE_READS = frozenset(
    {
        "console:dashboard",
        "console:users",
        "console:user_detail",
        "console:user_photo",
        "console:groups",
        "console:group_detail",
    }
)
HELPDESK_CONSOLE_ACTIONS = frozenset(
    {
        "console:user_password",
        "console:user_send_reset",
        "console:user_send_activation",
        "console:user_unlock",
    }
)
# GETs that change something (Microsoft's redirect back completes a connection): no
# read-only right covers them.
CONSOLE_GETS_THAT_WRITE = frozenset({"m365:callback"})

HELPDESK_API_READS = frozenset(
    {"api-users", "api-user", "api-user-photo", "api-groups", "api-group", "api-group-members"}
)
HELPDESK_API_ACTIONS = frozenset({"api-user-password"})

NOT_ALLOWED = "Your role ({role}) cannot do this. Ask an admin or an owner."


def console_allows(*, role: str, view_name: str, method: str) -> bool:
    if role in FULL or view_name in CONSOLE_ANYONE:
        return True
    safe = method in SAFE_METHODS and view_name not in CONSOLE_GETS_THAT_WRITE
    if role == User.READ_ONLY:
        return safe
    if role == User.HELPDESK:
        return view_name in HELPDESK_CONSOLE_ACTIONS or (
            safe and view_name in HELPDESK_CONSOLE_READS
        )
    return False


def api_allows(*, role: str, url_name: str, method: str) -> bool:
    if role in FULL:
        return True
    if role == User.READ_ONLY:
        return method in SAFE_METHODS
    if role == User.HELPDESK:
        return url_name in HELPDESK_API_ACTIONS or (
            method in SAFE_METHODS and url_name in HELPDESK_API_READS
        )
    return False


def role_label(role: str) -> str:
    return dict(User.ROLES).get(role, role)
