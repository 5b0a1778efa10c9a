"""What each role may do, for the console (`directory.console.access.console_view`) and
the API (`directory.api.permissions`): the one table of rights. Owners and admins may use
every page and endpoint (a few actions are owner-only in their services). Helpdesk reads
users and groups and helps people sign in: set or reset a password, send a reset link or
the activation email again, unlock a sign-in. Read-only sees everything, exports events
and changes nothing. Members have no console or API access at all."""

from .models import ApiKey, User

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FULL = frozenset({User.OWNER, User.ADMIN})

# Pages every console role may use, whatever the method: confirming it is you.
CONSOLE_ANYONE = frozenset({"console:reauth", "console:reauth_passkey"})
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

# The area of every API endpoint, for keys limited to some areas (ApiKey.areas). An
# endpoint missing here is refused to every area-limited key, and
# tests/api/test_key_scopes.py fails until it is classified.
_M365 = ApiKey.AREA_M365
API_AREAS = {
    **dict.fromkeys(
        [
            "api-users",
            "api-user",
            "api-user-password",
            "api-user-suspend",
            "api-user-activate",
            "api-user-photo",
        ],
        ApiKey.AREA_USERS,
    ),
    **dict.fromkeys(
        ["api-groups", "api-group", "api-group-members", "api-group-member"], ApiKey.AREA_GROUPS
    ),
    **dict.fromkeys(["api-events", "api-events-export"], ApiKey.AREA_EVENTS),
    **dict.fromkeys(
        [
            "api-m365-tenants",
            "api-m365-tenant",
            "api-m365-tenant-deauthorize",
            "api-m365-tenant-reauthorize",
            "api-m365-tenant-sync",
            "api-m365-tenant-users",
            "api-m365-tenant-user",
            "api-m365-tenant-user-sync",
            "api-m365-tenant-groups",
            "api-m365-tenant-group",
            "api-m365-tenant-group-sync",
            "api-m365-import-users",
            "api-m365-import-link",
            "api-m365-import-groups",
            "api-m365-import-group-link",
            "api-m365-held-blocks",
            "api-m365-held-blocks-release",
            "api-m365-held-blocks-discard",
            "api-m365-import-preview",
            "api-m365-imports",
            "api-m365-import",
        ],
        _M365,
    ),
}
# The documents (schema, docs page) belong to no area: every caller may read them.
API_DOCUMENTS = frozenset({"api-schema", "api-docs"})
KEY_READ_ONLY = "This API key is read-only."
KEY_OUTSIDE_AREAS = "This API key is limited to {areas}; this endpoint is in {area}."


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


def key_refusal(key: ApiKey, *, url_name: str, method: str) -> str | None:
    """Why `key` may not call this endpoint with this method, or None when its own
    scope allows it (its creator's role is checked as well, by `api_allows`)."""
    if key.read_only and method not in SAFE_METHODS:
        return KEY_READ_ONLY
    if key.areas and url_name not in API_DOCUMENTS:
        area = API_AREAS.get(url_name)
        if area not in key.areas:
            names = dict(ApiKey.AREAS)
            return KEY_OUTSIDE_AREAS.format(
                areas=", ".join(key.area_labels()), area=names.get(area, "no area")
            )
    return None


def role_label(role: str) -> str:
    return dict(User.ROLES).get(role, role)
