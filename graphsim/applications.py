"""Application objects (app registrations) as Graph serves them: `GET /applications`
(`$filter=appId eq '…'`, `$select`), `GET /applications/{id}` and
`GET /applications(appId='{appId}')`, with `passwordCredentials` (the client secrets:
keyId, displayName, hint, start and end dates; `secretText` is never returned).

An application object lives in its app's home tenant only (`homeTenantId`), as in
Entra ID: other tenants hold just its service principal, so there the list is empty and
a direct read 404s. Reading needs `Application.Read.All` (or a higher permission);
without it Graph answers 403 `Authorization_RequestDenied`.

Every registered app has one password credential for its secret, ending two years
after registration (Microsoft's default) unless the control API sets another end date
(`secret_expiry_set`).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from graphsim.directory import iso
from graphsim.errors import GraphError, not_found

READ_APPLICATIONS = {
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
}
APPLICATION_PROPERTIES = {
    "id",
    "appId",
    "displayName",
    "createdDateTime",
    "deletedDateTime",
    "signInAudience",
    "publisherDomain",
    "passwordCredentials",
    "keyCredentials",
    "identifierUris",
    "web",
}
FILTERABLE = {"id", "appId", "displayName"}
TWO_YEARS = 2 * 365 * 24 * 3600


def _credential_for(app: dict, start: float) -> dict:
    return {
        "customKeyIdentifier": None,
        "displayName": "graphsim secret",
        "endDateTime": iso(start + TWO_YEARS),
        "hint": str(app.get("secret") or "")[:3],
        "keyId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{app['clientId']}/{app.get('secret')}")),
        "secretText": None,
        "startDateTime": iso(start),
    }


def password_credentials(app: dict) -> list[dict]:
    """The app's secrets; the current secret always has one (added when missing)."""
    credentials = app.setdefault("passwordCredentials", [])
    hint = str(app.get("secret") or "")[:3]
    if hint and not any(c.get("hint") == hint for c in credentials):
        credentials.append(_credential_for(app, time.time()))
    return credentials


def secret_expiry_set(app: dict, *, tenant_id: str, end: str, display_name: str = "") -> dict:
    """Make `tenant_id` the app's home tenant and end its current secret at `end`."""
    try:
        moment = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"endDateTime must be an ISO 8601 date and time, not {end!r}") from None
    end = iso(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp())
    app["homeTenantId"] = tenant_id
    hint = str(app.get("secret") or "")[:3]
    for credential in password_credentials(app):
        if credential["hint"] == hint:
            credential["endDateTime"] = end
            if display_name:
                credential["displayName"] = display_name
            return credential
    raise ValueError("the app has no secret")  # pragma: no cover - password_credentials adds one


def object_id(app: dict) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, app["clientId"]))


def application_view(app: dict, select: list | None) -> dict:
    view = {
        "id": object_id(app),
        "appId": app["clientId"],
        "displayName": app.get("displayName"),
        "createdDateTime": app.get("createdDateTime"),
        "deletedDateTime": None,
        "signInAudience": "AzureADMultipleOrgs",
        "publisherDomain": None,
        "identifierUris": [],
        "keyCredentials": [],
        "passwordCredentials": [dict(c, secretText=None) for c in password_credentials(app)],
        "web": {"redirectUris": list(app.get("redirectUris") or [])},
    }
    return {name: view[name] for name in select} if select else view


def applications_of(state, tenant_id: str) -> list[dict]:
    """The application objects that live in this tenant (their home tenant)."""
    return [a for a in state.apps.values() if a.get("homeTenantId") == tenant_id]


def application_find(state, tenant_id: str, key: str, *, by_app_id: bool) -> dict:
    for app in applications_of(state, tenant_id):
        if (app["clientId"] if by_app_id else object_id(app)) == key:
            return app
    if not by_app_id:
        try:
            uuid.UUID(key)
        except ValueError:
            raise GraphError(
                400, "Request_BadRequest", f"Invalid object identifier '{key}'."
            ) from None
    raise not_found(key)
