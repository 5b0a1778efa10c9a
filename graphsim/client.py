"""GraphSimControl: a small client for graphsim's control API (used by tests, the
benchmark, the CLI and Stratus's own test suite)."""

from __future__ import annotations

import base64
from urllib.parse import quote

import requests


class GraphSimError(Exception):
    def __init__(self, status: int, body):
        super().__init__(f"graphsim control API answered {status}: {body}")
        self.status = status
        self.body = body


def make_session(ca_path: str | None) -> requests.Session:
    """A requests session trusting graphsim's CA.

    trust_env=False because this machine sets REQUESTS_CA_BUNDLE globally, and
    requests lets that variable override Session.verify.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_path if ca_path else True
    return session


def _q(value: str) -> str:
    return quote(str(value), safe="@")


class GraphSimControl:
    def __init__(self, base_url: str, ca_path: str | None, timeout: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.ca_path = ca_path
        self.timeout = timeout
        self.session = make_session(ca_path)

    def _call(self, method: str, path: str, json=None, params=None):
        response = self.session.request(
            method,
            f"{self.base_url}/_graphsim{path}",
            json=json,
            params=params,
            timeout=self.timeout,
        )
        body = response.json() if response.content else None
        if response.status_code >= 400:
            raise GraphSimError(response.status_code, body)
        return body

    # -- Microsoft-side URLs for this server ------------------------------------------
    def authority(self, tenant_id: str) -> str:
        return f"{self.base_url}/{tenant_id}"

    def graph_url(self, path: str = "") -> str:
        return f"{self.base_url}/v1.0/{path.lstrip('/')}"

    def app_token(self, tenant_id: str, client_id: str, secret: str) -> str:
        """A client-credentials access token, fetched with a plain POST (no MSAL)."""
        response = self.session.post(
            f"{self.base_url}/{tenant_id}/oauth2/v2.0/token",
            timeout=self.timeout,
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        )
        body = response.json()
        if "access_token" not in body:
            raise GraphSimError(response.status_code, body)
        return body["access_token"]

    # -- server and tenants -----------------------------------------------------------
    def health(self) -> dict:
        return self._call("GET", "/health")

    def create_tenant(
        self,
        *,
        display_name: str | None = None,
        domains: list | None = None,
        users: int = 0,
        groups: int = 0,
        admins: list | None = None,
        skus: list | None = None,
        size: str | None = None,
        throttling: bool = False,
        time_scale: float = 1.0,
        faults: dict | None = None,
        seed: int | None = None,
        user_password: str | None = None,
        tenant_id: str | None = None,
        initial_domain: str | None = None,
        default_domain: str | None = None,
        **extra,
    ) -> dict:
        spec = {
            "displayName": display_name,
            "domains": domains or [],
            "users": users,
            "groups": groups,
            "skus": skus or [],
            "size": size,
            "throttling": throttling,
            "timeScale": time_scale,
            "faults": faults or {},
            "seed": seed,
            "userPassword": user_password,
            "id": tenant_id,
            "initialDomain": initial_domain,
            "defaultDomain": default_domain,
            **extra,
        }
        if admins is not None:
            spec["admins"] = admins
        return self._call("POST", "/tenants", {k: v for k, v in spec.items() if v is not None})

    def list_tenants(self) -> list:
        return self._call("GET", "/tenants")["value"]

    def get_tenant(self, tenant_id: str) -> dict:
        return self._call("GET", f"/tenants/{tenant_id}")

    def delete_tenant(self, tenant_id: str) -> dict:
        return self._call("DELETE", f"/tenants/{tenant_id}")

    def reset_tenant(self, tenant_id: str) -> dict:
        return self._call("POST", f"/tenants/{tenant_id}/reset")

    # -- apps and grants --------------------------------------------------------------
    def register_app(
        self,
        *,
        display_name: str = "graphsim app",
        redirect_uris=(),
        application_permissions=(),
        delegated_permissions=(),
        client_id: str | None = None,
        secret: str | None = None,
        home_tenant_id: str | None = None,
    ) -> dict:
        return self._call(
            "POST",
            "/apps",
            {
                "displayName": display_name,
                "redirectUris": list(redirect_uris),
                "applicationPermissions": list(application_permissions),
                "delegatedPermissions": list(delegated_permissions),
                "clientId": client_id,
                "secret": secret,
                "homeTenantId": home_tenant_id,
            },
        )

    def list_apps(self) -> list:
        return self._call("GET", "/apps")["value"]

    def get_app(self, client_id: str) -> dict:
        return self._call("GET", f"/apps/{client_id}")

    def update_app(self, client_id: str, **fields) -> dict:
        return self._call("PATCH", f"/apps/{client_id}", fields)

    def set_secret_expiry(
        self, tenant_id: str, client_id: str, end: str, *, display_name: str | None = None
    ) -> dict:
        """End the app's current secret at `end` (ISO 8601); `tenant_id` becomes the
        app's home tenant, where Graph serves its application object."""
        body = {"endDateTime": end}
        if display_name:
            body["displayName"] = display_name
        return self._call("PUT", f"/tenants/{tenant_id}/apps/{client_id}/secret-expiry", body)

    def delete_app(self, client_id: str) -> dict:
        return self._call("DELETE", f"/apps/{client_id}")

    def grant(
        self,
        tenant_id: str,
        client_id: str,
        *,
        application_permissions=(),
        delegated_permissions=(),
        directory_roles=(),
        replace: bool = False,
    ) -> dict:
        """Consent permissions and assign directory roles to the app's service principal."""
        return self._call(
            "PUT" if replace else "POST",
            f"/tenants/{tenant_id}/grants/{client_id}",
            {
                "applicationPermissions": list(application_permissions),
                "delegatedPermissions": list(delegated_permissions),
                "directoryRoles": list(directory_roles),
            },
        )

    def revoke_grant(self, tenant_id: str, client_id: str) -> dict:
        return self._call("DELETE", f"/tenants/{tenant_id}/grants/{client_id}")

    def grants(self, tenant_id: str) -> dict:
        return self._call("GET", f"/tenants/{tenant_id}/grants")

    # -- behaviour ----------------------------------------------------------------------
    def set_faults(self, tenant_id: str, **faults) -> dict:
        """latency_ms, jitter_ms, error_rate, error_statuses, drop_rate, timeout_rate,
        timeout_seconds, replication_lag_reads, force_429, force_429_retry_after.
        Replaces the previous fault settings; call with no arguments to clear them."""
        return self._call("PUT", f"/tenants/{tenant_id}/faults", faults)

    def clear_faults(self, tenant_id: str) -> dict:
        return self.set_faults(tenant_id)

    def set_throttling(
        self,
        tenant_id: str,
        enabled: bool = True,
        size: str | None = None,
        outlook_limit: int | None = None,
    ) -> dict:
        body = {"enabled": enabled}
        if size is not None:
            body["size"] = size
        if outlook_limit is not None:
            body["outlookLimit"] = outlook_limit
        return self._call("PUT", f"/tenants/{tenant_id}/throttling", body)

    def set_time_scale(self, tenant_id: str, scale: float) -> dict:
        return self._call("PUT", f"/tenants/{tenant_id}/time-scale", {"scale": scale})

    def request_log(self, tenant_id: str, since: int = 0, limit: int = 1000) -> list:
        return self._call(
            "GET", f"/tenants/{tenant_id}/log", params={"since": since, "limit": limit}
        )["value"]

    def counters(self, tenant_id: str) -> dict:
        return self._call("GET", f"/tenants/{tenant_id}/counters")

    def write_windows(self, tenant_id: str) -> dict:
        """The most writes accepted in any sliding window: per app in the tenant (150 s)
        and for the tenant (5 min), scaled; plus the `x-ms-throttle-priority` of writes."""
        return self._call("GET", f"/tenants/{tenant_id}/write-windows")

    def app_write_windows(self, client_id: str) -> dict:
        """The most writes of one application across all tenants in any 5 min window."""
        return self._call("GET", f"/apps/{client_id}/write-windows")

    def reset_app_write_windows(self, client_id: str) -> dict:
        return self._call("DELETE", f"/apps/{client_id}/write-windows")

    def set_app_write_limit(self, client_id: str, writes: int | None) -> dict:
        """Lower the application's write limit across all tenants (per 5 min, scaled by
        each tenant's time scale) for a scaled run; None: Microsoft's 70,000 again. Its
        window and record restart."""
        return self._call("PUT", f"/apps/{client_id}/write-limit", {"writes": writes})

    # -- an admin in the Microsoft portal ------------------------------------------------
    def user_photo(self, tenant_id: str, user: str) -> bytes | None:
        """A user's photo as stored (None when there is none)."""
        try:
            body = self._call("GET", f"/tenants/{tenant_id}/users/{_q(user)}/photo")
        except GraphSimError as exc:
            if exc.status == 404:
                return None
            raise
        return base64.b64decode(body["data"])

    def set_user_photo(self, tenant_id: str, user: str, data: bytes) -> dict:
        return self._call(
            "PUT",
            f"/tenants/{tenant_id}/users/{_q(user)}/photo",
            {"data": base64.b64encode(data).decode()},
        )

    def delete_user_photo(self, tenant_id: str, user: str) -> dict:
        return self._call("DELETE", f"/tenants/{tenant_id}/users/{_q(user)}/photo")

    def users(self, tenant_id: str, deleted: bool = False) -> list:
        return self._call(
            "GET", f"/tenants/{tenant_id}/users", params={"deleted": "true" if deleted else "false"}
        )["value"]

    def admin_create_user(
        self,
        tenant_id: str,
        user_principal_name: str,
        *,
        password: str | None = None,
        roles=(),
        **attributes,
    ) -> dict:
        return self._call(
            "POST",
            f"/tenants/{tenant_id}/users",
            {
                "userPrincipalName": user_principal_name,
                "password": password,
                "roles": list(roles),
                **attributes,
            },
        )

    def admin_get_user(self, tenant_id: str, user: str) -> dict:
        return self._call("GET", f"/tenants/{tenant_id}/users/{_q(user)}")

    def admin_update_user(self, tenant_id: str, user: str, **attributes) -> dict:
        """Change Graph properties (and `roles`, by name) as an admin in the portal."""
        return self._call("PATCH", f"/tenants/{tenant_id}/users/{_q(user)}", attributes)

    def admin_set_password(
        self, tenant_id: str, user: str, password: str, force_change: bool = False
    ) -> dict:
        return self._call(
            "POST",
            f"/tenants/{tenant_id}/users/{_q(user)}/password",
            {"password": password, "forceChangePasswordNextSignIn": force_change},
        )

    def admin_block(self, tenant_id: str, user: str) -> dict:
        return self._call("POST", f"/tenants/{tenant_id}/users/{_q(user)}/block")

    def admin_unblock(self, tenant_id: str, user: str) -> dict:
        return self._call("POST", f"/tenants/{tenant_id}/users/{_q(user)}/unblock")

    def admin_revoke_sessions(self, tenant_id: str, user: str) -> dict:
        return self._call("POST", f"/tenants/{tenant_id}/users/{_q(user)}/revoke")

    def admin_delete_user(self, tenant_id: str, user: str, permanent: bool = False) -> dict:
        return self._call(
            "DELETE",
            f"/tenants/{tenant_id}/users/{_q(user)}",
            params={"permanent": "true" if permanent else "false"},
        )

    def admin_restore_user(self, tenant_id: str, user: str) -> dict:
        return self._call("POST", f"/tenants/{tenant_id}/users/{_q(user)}/restore")

    def admin_create_group(self, tenant_id: str, display_name: str, **attributes) -> dict:
        return self._call(
            "POST", f"/tenants/{tenant_id}/groups", {"displayName": display_name, **attributes}
        )
