"""The control API under /_graphsim/: JSON, no auth, clearly not Microsoft's.

It does what a test harness or an M365 admin in the portal would do: create and
reset tenants, register apps, grant permissions and roles, set faults and
throttling, read the request log, and change users behind the client's back.
"""

from __future__ import annotations

import base64
import json
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from graphsim import __version__, applications, photos, roles
from graphsim.directory import USER_PROPERTIES, iso
from graphsim.errors import GraphError
from graphsim.tenants import SpecError, add_user, tenant_create, tenant_reset, tenant_summary
from graphsim.throttle import APP_WIDE_WRITE_LIMIT, app_write_windows, write_windows

SERVICE_SET_USER_PROPERTIES = ("onPremisesSyncEnabled", "proxyAddresses")
FAULT_KEYS = {
    "latency_ms",
    "jitter_ms",
    "error_rate",
    "error_statuses",
    "drop_rate",
    "timeout_rate",
    "timeout_seconds",
    "replication_lag_reads",
    "force_429_retry_after",
}


class NotFound(Exception):
    pass


def throttle_restart(tenant) -> None:
    """New throttling settings: the tenant's windows and write records start afresh."""
    runtime = tenant.runtime
    runtime.ru_window.clear()
    runtime.write_window.clear()
    runtime.write_most.clear()
    runtime.tenant_write_most = None
    runtime.priorities.clear()
    runtime.outlook_window.clear()


def grant_record(tenant, client_id: str) -> dict:
    """The app's service principal in a tenant, created on first grant."""
    grants = tenant.info["grants"]
    if client_id not in grants:
        grants[client_id] = {
            "spId": str(uuid.uuid4()),
            "applicationPermissions": [],
            "delegatedPermissions": [],
            "directoryRoles": [],
        }
    return grants[client_id]


def _json(status: int, body) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def endpoint(func):
    """Map control-API failures to plain JSON errors."""

    async def wrapper(request: Request):
        try:
            body = {}
            if request.method in ("POST", "PUT", "PATCH"):
                raw = await request.body()
                body = json.loads(raw) if raw else {}
            return await func(request, body)
        except (SpecError, ValueError, KeyError, TypeError) as exc:
            return _json(400, {"error": {"code": "invalidRequest", "message": str(exc)}})
        except NotFound as exc:
            return _json(404, {"error": {"code": "notFound", "message": str(exc)}})
        except GraphError as exc:
            return _json(exc.status, {"error": {"code": exc.code, "message": exc.message}})

    return wrapper


def routes(sim) -> list[Route]:
    state, directory = sim.state, sim.directory

    def tenant_of(request: Request):
        tenant = state.find_tenant(request.path_params["tenant"])
        if tenant is None:
            raise NotFound(f"no tenant {request.path_params['tenant']}")
        return tenant

    def user_of(request: Request, tenant):
        key = request.path_params["user"]
        user_id = tenant.upns.get(key.lower()) if "@" in key else key.lower()
        user = tenant.users.get(user_id or "") or tenant.deleted.get(user_id or "")
        if user is None:
            raise NotFound(f"no user {key}")
        return user

    def user_info(user: dict) -> dict:
        view = {k: v for k, v in user.items() if not k.startswith("_")}
        view["roles"] = [roles.ROLE_NAMES.get(r, r) for r in user.get("_roles") or []]
        view["deleted"] = bool(user.get("_deletedAt"))
        view["hasPassword"] = bool(user.get("_password"))
        view["hasPhoto"] = bool(user.get("_photo"))
        return view

    @endpoint
    async def health(request, body):
        return _json(200, {"status": "ok", "version": __version__, "tenants": len(state.tenants)})

    @endpoint
    async def list_tenants(request, body):
        return _json(200, {"value": [tenant_summary(t) for t in state.tenants.values()]})

    @endpoint
    async def create_tenant(request, body):
        tenant, admins = tenant_create(state, directory, body)
        return _json(201, {**tenant_summary(tenant, full=True), "admins": admins})

    @endpoint
    async def get_tenant(request, body):
        return _json(200, tenant_summary(tenant_of(request), full=True))

    @endpoint
    async def delete_tenant(request, body):
        state.drop_tenant(tenant_of(request))
        return _json(200, {"deleted": True})

    @endpoint
    async def reset_tenant(request, body):
        tenant, admins = tenant_reset(state, directory, tenant_of(request))
        return _json(200, {**tenant_summary(tenant, full=True), "admins": admins})

    @endpoint
    async def set_faults(request, body):
        tenant = tenant_of(request)
        unknown = set(body) - FAULT_KEYS - {"force_429"}
        if unknown:
            raise SpecError(f"unknown fault settings: {sorted(unknown)}")
        faults = {k: v for k, v in body.items() if k in FAULT_KEYS}
        tenant.settings["faults"] = faults
        tenant.runtime.forced_429 = int(body.get("force_429") or 0)
        state.save_tenant(tenant)
        return _json(200, {**faults, "force_429": tenant.runtime.forced_429})

    @endpoint
    async def set_throttling(request, body):
        tenant = tenant_of(request)
        tenant.settings["throttling"] = bool(body.get("enabled", True))
        if "size" in body:
            if body["size"] not in (None, "small", "medium", "large"):
                raise SpecError("size must be small, medium, large or null")
            tenant.settings["size"] = body["size"]
        if "outlookLimit" in body:  # photo calls per mailbox per 10 min (default 10,000)
            tenant.settings["outlook_limit"] = int(body["outlookLimit"] or 0) or None
        throttle_restart(tenant)
        state.save_tenant(tenant)
        return _json(200, tenant.settings)

    @endpoint
    async def set_time_scale(request, body):
        tenant = tenant_of(request)
        scale = float(body["scale"])
        if scale <= 0:
            raise SpecError("scale must be positive")
        tenant.settings["time_scale"] = scale
        throttle_restart(tenant)
        state.save_tenant(tenant)
        return _json(200, tenant.settings)

    @endpoint
    async def tenant_write_windows(request, body):
        return _json(200, write_windows(tenant_of(request)))

    @endpoint
    async def get_app_write_windows(request, body):
        return _json(200, app_write_windows(state, request.path_params["client_id"]))

    @endpoint
    async def set_app_write_limit(request, body):
        client_id = request.path_params["client_id"]
        writes = body.get("writes")
        if writes is None:
            state.app_write_limits.pop(client_id, None)
        elif not isinstance(writes, int) or not 0 < writes <= APP_WIDE_WRITE_LIMIT:
            raise SpecError(f"writes must be a whole number from 1 to {APP_WIDE_WRITE_LIMIT}")
        else:
            state.app_write_limits[client_id] = writes
        state.app_write_window.pop(client_id, None)
        state.app_write_most.pop(client_id, None)
        return _json(200, app_write_windows(state, client_id))

    @endpoint
    async def reset_app_write_windows(request, body):
        state.app_write_window.pop(request.path_params["client_id"], None)
        state.app_write_most.pop(request.path_params["client_id"], None)
        return _json(200, {"reset": True})

    @endpoint
    async def request_log(request, body):
        tenant = tenant_of(request)
        limit = int(request.query_params.get("limit", 1000))
        since = int(request.query_params.get("since", 0))
        rows = state.db.query(
            "SELECT id, ts, method, path, status, ru, write, app_id, ms, note FROM log "
            "WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?",
            (tenant.id, since, limit),
        )
        keys = (
            "id",
            "time",
            "method",
            "path",
            "status",
            "resourceUnits",
            "write",
            "appId",
            "ms",
            "note",
        )
        return _json(200, {"value": [dict(zip(keys, row, strict=True)) for row in rows]})

    @endpoint
    async def counters(request, body):
        tenant = tenant_of(request)
        row = state.db.query(
            "SELECT COUNT(*),"
            " SUM(method = 'GET' AND note NOT IN ('login', 'batch')),"
            " SUM(write = 1 AND status != 429),"
            " SUM(status = 429),"
            " SUM(status >= 400 AND status < 500 AND status != 429),"
            " SUM(status >= 500),"
            " SUM(note LIKE 'fault:%'),"
            " SUM(note = 'login'),"
            " SUM(note LIKE 'batch:%'),"
            " SUM(CASE WHEN status = 429 THEN 0 ELSE ru END)"
            " FROM log WHERE tenant_id = ?",
            (tenant.id,),
        )[0]
        keys = (
            "requests",
            "reads",
            "writes",
            "throttled",
            "clientErrors",
            "serverErrors",
            "faults",
            "tokenRequests",
            "batchItems",
            "resourceUnits",
        )
        return _json(200, {k: int(v or 0) for k, v in zip(keys, row, strict=True)})

    # -- apps and grants -----------------------------------------------------------
    @endpoint
    async def register_app(request, body):
        client_id = str(body.get("clientId") or uuid.uuid4())
        app = {
            "clientId": client_id,
            "secret": body.get("secret") or uuid.uuid4().hex + "~Gs",
            "displayName": body.get("displayName") or "graphsim app",
            "redirectUris": list(body.get("redirectUris") or []),
            "applicationPermissions": list(body.get("applicationPermissions") or []),
            "delegatedPermissions": list(body.get("delegatedPermissions") or []),
            "homeTenantId": body.get("homeTenantId"),
            "createdDateTime": iso(),
        }
        applications.password_credentials(app)
        state.save_app(app)
        return _json(201, app)

    @endpoint
    async def list_apps(request, body):
        return _json(200, {"value": list(state.apps.values())})

    @endpoint
    async def get_app(request, body):
        app = state.apps.get(request.path_params["client_id"])
        if app is None:
            raise NotFound("no such app")
        return _json(200, app)

    @endpoint
    async def update_app(request, body):
        app = state.apps.get(request.path_params["client_id"])
        if app is None:
            raise NotFound("no such app")
        for key in (
            "secret",
            "displayName",
            "redirectUris",
            "applicationPermissions",
            "delegatedPermissions",
            "homeTenantId",
            "passwordCredentials",
        ):
            if key in body:
                app[key] = body[key]
        applications.password_credentials(app)
        state.save_app(app)
        return _json(200, app)

    @endpoint
    async def secret_expiry(request, body):
        """The end date of the app's current secret, with this tenant as its home (where
        its application object lives and can be read)."""
        tenant = tenant_of(request)
        app = state.apps.get(request.path_params["client_id"])
        if app is None:
            raise NotFound("no such app")
        if "endDateTime" not in body:
            raise ValueError("endDateTime is required")
        credential = applications.secret_expiry_set(
            app,
            tenant_id=tenant.id,
            end=body["endDateTime"],
            display_name=str(body.get("displayName") or ""),
        )
        state.save_app(app)
        return _json(200, {"homeTenantId": tenant.id, "passwordCredential": credential})

    @endpoint
    async def delete_app(request, body):
        state.drop_app(request.path_params["client_id"])
        return _json(200, {"deleted": True})

    @endpoint
    async def grant(request, body):
        tenant = tenant_of(request)
        client_id = request.path_params["client_id"]
        if client_id not in state.apps:
            raise NotFound("no such app")
        record = grant_record(tenant, client_id)
        replace = request.method == "PUT"
        for key in ("applicationPermissions", "delegatedPermissions"):
            values = set(body.get(key) or [])
            record[key] = sorted(values if replace else set(record[key]) | values)
        role_ids = {roles.role_id(r) for r in body.get("directoryRoles") or []}
        record["directoryRoles"] = sorted(
            role_ids if replace else set(record["directoryRoles"]) | role_ids
        )
        state.save_tenant(tenant)
        return _json(200, _grant_view(record))

    @endpoint
    async def revoke_grant(request, body):
        tenant = tenant_of(request)
        tenant.info["grants"].pop(request.path_params["client_id"], None)
        state.save_tenant(tenant)
        return _json(200, {"deleted": True})

    @endpoint
    async def list_grants(request, body):
        tenant = tenant_of(request)
        return _json(200, {cid: _grant_view(g) for cid, g in tenant.info["grants"].items()})

    # -- acting as an admin in the portal --------------------------------------------
    @endpoint
    async def list_users(request, body):
        tenant = tenant_of(request)
        users = list(tenant.users.values())
        if request.query_params.get("deleted") == "true":
            users = list(tenant.deleted.values())
        return _json(200, {"value": [user_info(u) for u in users]})

    @endpoint
    async def create_user(request, body):
        tenant = tenant_of(request)
        body = dict(body)
        role_names = body.pop("roles", [])
        password = body.pop("password", None)
        upn = body.get("userPrincipalName", "")
        body.setdefault("accountEnabled", True)
        body.setdefault("displayName", upn.split("@")[0])
        body.setdefault("mailNickname", upn.split("@")[0])
        if password:
            body["passwordProfile"] = {"password": password, "forceChangePasswordNextSignIn": False}
        # Set by Microsoft itself (Entra Connect, Exchange), read-only in Graph: the
        # control API may give them, to stand for synced and mail-enabled accounts.
        given = {key: body.pop(key) for key in SERVICE_SET_USER_PROPERTIES if key in body}
        user = add_user(state, directory, tenant, body, role_names)
        if given:
            user.update(given)
            state.save_object(tenant, user)
        return _json(201, user_info(user))

    @endpoint
    async def get_user(request, body):
        tenant = tenant_of(request)
        return _json(200, user_info(user_of(request, tenant)))

    @endpoint
    async def update_user(request, body):
        tenant = tenant_of(request)
        user = user_of(request, tenant)
        unknown = set(body) - USER_PROPERTIES - {"roles"}
        if unknown:
            raise SpecError(f"unknown user properties: {sorted(unknown)}")
        if "roles" in body:
            user["_roles"] = [roles.role_id(r) for r in body.pop("roles")]
        if body:
            directory.user_update(tenant, user, body)
        else:
            state.save_object(tenant, user)
        return _json(200, user_info(user))

    @endpoint
    async def set_password(request, body):
        tenant = tenant_of(request)
        user = user_of(request, tenant)
        directory.user_set_password(
            tenant, user, body["password"], bool(body.get("forceChangePasswordNextSignIn", False))
        )
        return _json(200, user_info(user))

    @endpoint
    async def get_photo(request, body):
        tenant = tenant_of(request)
        user = user_of(request, tenant)
        raw = photos.photo_bytes(state, tenant, user)
        return _json(200, {**user["_photo"], "data": base64.b64encode(raw).decode()})

    @endpoint
    async def set_photo(request, body):
        """As an admin uploading in the portal: the same checks as Graph's PUT."""
        tenant = tenant_of(request)
        user = user_of(request, tenant)
        raw = base64.b64decode(body["data"])
        meta = photos.inspect(raw)
        photos.photo_store(state, tenant, user, raw, meta)
        return _json(200, meta)

    @endpoint
    async def delete_photo(request, body):
        tenant = tenant_of(request)
        return _json(200, {"deleted": photos.photo_drop(state, tenant, user_of(request, tenant))})

    @endpoint
    async def block(request, body):
        tenant = tenant_of(request)
        directory.user_update(tenant, user_of(request, tenant), {"accountEnabled": False})
        return _json(200, {"accountEnabled": False})

    @endpoint
    async def unblock(request, body):
        tenant = tenant_of(request)
        directory.user_update(tenant, user_of(request, tenant), {"accountEnabled": True})
        return _json(200, {"accountEnabled": True})

    @endpoint
    async def revoke(request, body):
        tenant = tenant_of(request)
        directory.user_revoke_sessions(tenant, user_of(request, tenant))
        return _json(200, {"revoked": True})

    @endpoint
    async def delete_user(request, body):
        tenant = tenant_of(request)
        user = user_of(request, tenant)
        if request.query_params.get("permanent") == "true":
            if not user.get("_deletedAt"):
                directory.user_delete(tenant, user)
            directory.deleted_purge(tenant, user["id"])
        elif not user.get("_deletedAt"):
            directory.user_delete(tenant, user)
        return _json(200, {"deleted": True})

    @endpoint
    async def restore_user(request, body):
        tenant = tenant_of(request)
        user = directory.deleted_restore(tenant, user_of(request, tenant)["id"])
        return _json(200, user_info(user))

    @endpoint
    async def create_group(request, body):
        tenant = tenant_of(request)
        body = {"mailEnabled": False, "securityEnabled": True, **body}
        body.setdefault(
            "mailNickname",
            "".join(c for c in body.get("displayName", "g") if c.isalnum()) or "group",
        )
        if "members" in body:  # object ids, any number (an admin centre has no 20 limit)
            body["_members"] = body.pop("members")
        group = directory.group_create(tenant, body, admin=True)
        return _json(201, {k: v for k, v in group.items() if not k.startswith("_")})

    t = "/tenants/{tenant}"
    u = t + "/users/{user}"
    return [
        Route("/health", health),
        Route("/tenants", list_tenants),
        Route("/tenants", create_tenant, methods=["POST"]),
        Route(t, get_tenant),
        Route(t, delete_tenant, methods=["DELETE"]),
        Route(t + "/reset", reset_tenant, methods=["POST"]),
        Route(t + "/faults", set_faults, methods=["PUT", "POST"]),
        Route(t + "/throttling", set_throttling, methods=["PUT", "POST"]),
        Route(t + "/time-scale", set_time_scale, methods=["PUT", "POST"]),
        Route(t + "/log", request_log),
        Route(t + "/counters", counters),
        Route(t + "/write-windows", tenant_write_windows),
        Route(t + "/grants", list_grants),
        Route(t + "/grants/{client_id}", grant, methods=["PUT", "POST"]),
        Route(t + "/grants/{client_id}", revoke_grant, methods=["DELETE"]),
        Route(t + "/apps/{client_id}/secret-expiry", secret_expiry, methods=["PUT"]),
        Route(t + "/users", list_users),
        Route(t + "/users", create_user, methods=["POST"]),
        Route(u, get_user),
        Route(u, update_user, methods=["PATCH"]),
        Route(u, delete_user, methods=["DELETE"]),
        Route(u + "/password", set_password, methods=["POST"]),
        Route(u + "/photo", get_photo),
        Route(u + "/photo", set_photo, methods=["PUT"]),
        Route(u + "/photo", delete_photo, methods=["DELETE"]),
        Route(u + "/block", block, methods=["POST"]),
        Route(u + "/unblock", unblock, methods=["POST"]),
        Route(u + "/revoke", revoke, methods=["POST"]),
        Route(u + "/restore", restore_user, methods=["POST"]),
        Route(t + "/groups", create_group, methods=["POST"]),
        Route("/apps", list_apps),
        Route("/apps", register_app, methods=["POST"]),
        Route("/apps/{client_id}", get_app),
        Route("/apps/{client_id}", update_app, methods=["PATCH"]),
        Route("/apps/{client_id}", delete_app, methods=["DELETE"]),
        Route("/apps/{client_id}/write-windows", get_app_write_windows),
        Route("/apps/{client_id}/write-windows", reset_app_write_windows, methods=["DELETE"]),
        Route("/apps/{client_id}/write-limit", set_app_write_limit, methods=["PUT"]),
    ]


def _grant_view(record: dict) -> dict:
    return {
        **record,
        "directoryRoles": [roles.ROLE_NAMES.get(r, r) for r in record["directoryRoles"]],
    }
