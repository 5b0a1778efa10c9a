"""Microsoft Graph v1.0: authentication, routing, authorization and the handlers.

The service works on plain `SubRequest` objects so that `$batch` can run its
inner requests through exactly the same path (throttling included) as HTTP ones.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import jwt

from graphsim import odata, photos, roles
from graphsim import permissions as P
from graphsim.directory import (
    GROUP_PROPERTIES,
    GUID_RE,
    USER_DEFAULT,
    USER_PROPERTIES,
    Directory,
)
from graphsim.errors import GraphError, bad_request, forbidden, not_found, unauthorized
from graphsim.store import State, Tenant
from graphsim.throttle import charge, format_seconds, record_priority, request_cost

JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;"
    "IEEE754Compatible=false;charset=utf-8"
)
CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#"
USER_FILTERABLE = {
    "id",
    "userPrincipalName",
    "mail",
    "displayName",
    "givenName",
    "surname",
    "accountEnabled",
    "jobTitle",
    "department",
    "employeeId",
    "usageLocation",
    "userType",
    "onPremisesImmutableId",
    "mailNickname",
    "companyName",
    "city",
    "country",
    "state",
    "officeLocation",
    "mobilePhone",
    "employeeType",
    "createdDateTime",
    "postalCode",
    "streetAddress",
    "preferredLanguage",
}
USER_FILTER_ADVANCED = {
    "createdDateTime",
    "officeLocation",
    "mobilePhone",
    "companyName",
    "postalCode",
    "streetAddress",
    "preferredLanguage",
}
GROUP_FILTERABLE = {
    "id",
    "displayName",
    "mailNickname",
    "securityEnabled",
    "mailEnabled",
    "description",
    "createdDateTime",
    "mail",
}
GROUP_FILTER_ADVANCED = {"description", "createdDateTime"}
SEARCHABLE = {
    "displayName",
    "mail",
    "userPrincipalName",
    "givenName",
    "surname",
    "mailNickname",
    "description",
    "jobTitle",
    "department",
}
METHOD_NOT_ALLOWED = "Specified HTTP method is not allowed for the request target."


@dataclass
class SubRequest:
    method: str
    path: str
    query: dict
    headers: dict
    body: object = None
    raw: bytes = b""


@dataclass
class Resp:
    status: int
    body: object = None
    headers: dict = field(default_factory=dict)
    content_type: str | None = None
    ru: int = 0
    write: int = 0
    note: str = ""


@dataclass
class Ctx:
    tenant: Tenant
    claims: dict
    app_id: str
    perms: set
    wids: set
    user: dict | None
    base_url: str
    request_id: str
    client_request_id: str

    @property
    def app_only(self) -> bool:
        return self.user is None


def graph_date() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def error_body(err: GraphError, request_id: str, client_request_id: str) -> dict:
    inner = {
        "date": graph_date(),
        "request-id": request_id,
        "client-request-id": client_request_id,
        **err.inner,
    }
    body = {"code": err.code, "message": err.message, "innerError": inner}
    if err.details:
        body["details"] = err.details
    return {"error": body}


def too_many_requests(retry_after: float, information: str, scope: str) -> GraphError:
    return GraphError(
        429,
        "TooManyRequests",
        "Please retry again later.",
        headers={
            "Retry-After": format_seconds(retry_after),
            "x-ms-throttle-scope": scope,
            "x-ms-throttle-information": information,
        },
        inner={"code": "429", "message": "Please retry after", "status": "429"},
    )


# -- routing -----------------------------------------------------------------------
ROUTES: list[tuple[str, re.Pattern, str, str]] = []


def route(method: str, pattern: str, name: str):
    def register(func):
        ROUTES.append((method, re.compile(f"^{pattern}$"), name, func.__name__))
        return func

    return register


SEG = r"(?P<key>[^/]+)"
DELTA = r"(?:microsoft\.graph\.)?delta(?:\(\))?"


class GraphService:
    def __init__(self, state: State, signer):
        self.state = state
        self.signer = signer
        self.directory = Directory(state)

    # -- authentication ------------------------------------------------------------
    def authenticate(
        self, authorization: str | None, base_url: str, request_id: str, client_request_id: str
    ) -> Ctx:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise unauthorized("Access token is empty.")
        token = authorization[7:].strip()
        if not token:
            raise unauthorized("Access token is empty.")
        try:
            claims = self.signer.verify_graph_token(token)
        except jwt.ExpiredSignatureError:
            raise unauthorized("Lifetime validation failed, the token is expired.") from None
        except jwt.InvalidAudienceError:
            raise unauthorized("Access token validation failure. Invalid audience.") from None
        except jwt.InvalidSignatureError:
            raise unauthorized("Access token validation failure.") from None
        except jwt.DecodeError:
            raise unauthorized("CompactToken parsing failed with error code: 80049217") from None
        except jwt.InvalidTokenError:
            raise unauthorized("Access token validation failure.") from None
        tenant = self.state.tenants.get(claims.get("tid", ""))
        if tenant is None:
            raise unauthorized("Access token validation failure.")
        user = None
        if claims.get("idtyp") == "user":
            user = tenant.users.get(claims["oid"])
            if user is None:
                raise unauthorized("Access token validation failure.")
            perms = set(claims.get("scp", "").split())
            wids = set(user.get("_roles") or [])
        else:
            perms = set(claims.get("roles") or [])
            wids = set(claims.get("wids") or [])
        return Ctx(
            tenant=tenant,
            claims=claims,
            app_id=claims["appid"],
            perms=perms,
            wids=wids,
            user=user,
            base_url=base_url,
            request_id=request_id,
            client_request_id=client_request_id,
        )

    # -- dispatch ------------------------------------------------------------------
    def dispatch(self, ctx: Ctx, req: SubRequest) -> Resp:
        """Route, throttle and run one request; every failure becomes a Resp."""
        ru = write = 0
        try:
            handler, name, params = self._match(req)
            ru, write = request_cost(req.method, name, req.query)
            # Photo calls are in the Outlook bucket (`photos.outlook_charge`), not the
            # identity resource units; their writes still count in the write windows.
            identity_ru = 0 if name == "user.photo" else ru
            verdict = charge(self.state, ctx.tenant, ctx.app_id, identity_ru, write)
            if verdict.retry_after is not None:
                scope = f"Tenant_Application/ReadWrite/{ctx.app_id}/{ctx.tenant.id}"
                raise too_many_requests(verdict.retry_after, verdict.information, scope)
            record_priority(ctx.tenant, write, req.headers.get("x-ms-throttle-priority"))
            resp = handler(ctx, req, **params)
            resp.ru, resp.write = ru, write
            if verdict.limit_percentage:
                resp.headers["x-ms-throttle-limit-percentage"] = str(verdict.limit_percentage)
        except GraphError as err:
            # Failed requests cost resource units too; a 429 was never charged.
            resp = self.error(ctx, err)
            resp.ru, resp.write = ru, write
        return resp

    def error(
        self, ctx: Ctx | None, err: GraphError, request_id: str = "", client_request_id: str = ""
    ) -> Resp:
        rid = ctx.request_id if ctx else request_id
        crid = ctx.client_request_id if ctx else client_request_id
        return Resp(
            err.status,
            error_body(err, rid, crid),
            dict(err.headers),
            content_type="application/json",
            note=err.code,
        )

    def _match(self, req: SubRequest):
        path = req.path.strip("/")
        allowed = False
        for method, pattern, name, func in ROUTES:
            match = pattern.match(path)
            if match:
                if method == req.method:
                    return getattr(self, func), name, match.groupdict()
                allowed = True
        if allowed:
            raise GraphError(405, "Request_BadRequest", METHOD_NOT_ALLOWED)
        segment = path.split("/")[0] if path else ""
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")

    # -- helpers -------------------------------------------------------------------
    @staticmethod
    def require(ctx: Ctx, allowed: set) -> None:
        if not ctx.perms & allowed:
            raise forbidden()

    @staticmethod
    def require_role(ctx: Ctx, allowed_roles: set) -> None:
        """Delegated writes also need the signed-in user to hold a suitable role."""
        if ctx.user is not None and not ctx.wids & allowed_roles:
            raise forbidden()

    def _lagging(self, ctx: Ctx, object_id: str) -> bool:
        """Replication lag fault: a fresh object 404s for its next N direct reads."""
        left = ctx.tenant.runtime.lag.get(object_id)
        if not left:
            return False
        if left <= 1:
            ctx.tenant.runtime.lag.pop(object_id, None)
        else:
            ctx.tenant.runtime.lag[object_id] = left - 1
        return True

    def _user(self, ctx: Ctx, key: str) -> dict:
        user = self.directory.find_user(ctx.tenant, key)
        if self._lagging(ctx, user["id"]):
            raise not_found(key)
        return user

    def _group(self, ctx: Ctx, key: str) -> dict:
        group = self.directory.find_group(ctx.tenant, key)
        if self._lagging(ctx, group["id"]):
            raise not_found(key)
        return group

    @staticmethod
    def ok(body, status: int = 200, headers: dict | None = None) -> Resp:
        return Resp(status, body, headers or {}, JSON_TYPE)

    @staticmethod
    def no_content() -> Resp:
        return Resp(204)

    @staticmethod
    def user_view(user: dict, select: list | None) -> dict:
        fields = select or USER_DEFAULT
        view = {}
        for name in fields:
            if name == "passwordProfile":
                view[name] = {
                    "password": None,
                    "forceChangePasswordNextSignIn": user.get("_forceChange", False),
                    "forceChangePasswordNextSignInWithMfa": False,
                }
            else:
                view[name] = user.get(name)
        return view

    @staticmethod
    def group_view(group: dict, select: list | None) -> dict:
        if select:
            return {name: group.get(name) for name in select}
        return {k: v for k, v in group.items() if not k.startswith("_")}

    @staticmethod
    def _context(entity_set: str, select: list | None, entity: bool = False) -> str:
        suffix = f"({','.join(select)})" if select else ""
        return f"{CONTEXT}{entity_set}{suffix}{'/$entity' if entity else ''}"

    @staticmethod
    def _advanced(req: SubRequest) -> tuple[bool, bool]:
        eventual = req.headers.get("consistencylevel", "").lower() == "eventual"
        count = req.query.get("$count", "").lower() == "true"
        return eventual, count

    def _page(
        self,
        ctx: Ctx,
        req: SubRequest,
        items: list,
        render,
        entity_set: str,
        select: list | None,
        with_count: bool,
    ) -> Resp:
        """Apply $top/$skiptoken and build @odata.nextLink with the other parameters."""
        top = self._top(req.query)
        offset = 0
        if "$skiptoken" in req.query:
            token = odata.decode_token(req.query["$skiptoken"])
            if not token or not isinstance(token.get("o"), int):
                raise bad_request("Invalid skip token.")
            offset = token["o"]
        page = items[offset : offset + top]
        body = {"@odata.context": self._context(entity_set, select)}
        if with_count:
            body["@odata.count"] = len(items)
        if offset + top < len(items):
            params = {k: v for k, v in req.query.items() if k != "$skiptoken"}
            params["$skiptoken"] = odata.encode_token({"o": offset + top})
            body["@odata.nextLink"] = f"{ctx.base_url}v1.0/{req.path.strip('/')}?" + urlencode(
                params, safe="$'(),:", quote_via=quote
            )
        body["value"] = [render(item) for item in page]
        return self.ok(body)

    @staticmethod
    def _top(query: dict) -> int:
        raw = query.get("$top")
        if raw is None:
            return 100
        if not raw.isdigit() or not 1 <= int(raw) <= 999:
            raise bad_request(
                f"Invalid page size specified: '{raw}'. Must be between 1 and 999 inclusive."
            )
        return int(raw)

    def _query(
        self,
        req: SubRequest,
        items: list,
        *,
        resource: str,
        filterable: set,
        advanced_only: set,
        orderable: set,
    ) -> tuple[list, bool]:
        eventual, count = self._advanced(req)
        advanced = eventual and count
        if "$search" in req.query:
            if not eventual:
                raise GraphError(
                    400,
                    "Request_UnsupportedQuery",
                    "Request with $search query parameter only works through "
                    "MSGraph with a special request header: 'ConsistencyLevel: "
                    "eventual'",
                )
            clauses = odata.parse_search(
                req.query["$search"].strip('"') and req.query["$search"], SEARCHABLE
            )
            items = [i for i in items if odata.search_matches(clauses, i)]
        if "$filter" in req.query:
            node = odata.parse_filter(
                req.query["$filter"],
                resource=resource,
                allowed=filterable,
                advanced_only=advanced_only,
                advanced=advanced,
            )
            items = [i for i in items if odata.evaluate(node, i)]
        if "$orderby" in req.query:
            prop, _, direction = req.query["$orderby"].strip().partition(" ")
            if prop not in orderable or ("$filter" in req.query and not advanced):
                raise GraphError(
                    400, "Request_UnsupportedQuery", "Sorting not supported for current query."
                )
            items = sorted(
                items,
                key=lambda i: (i.get(prop) or "").lower(),
                reverse=direction.strip().lower() == "desc",
            )
        return items, eventual and count

    # -- users ---------------------------------------------------------------------
    @route("GET", "users", "users")
    def list_users(self, ctx: Ctx, req: SubRequest) -> Resp:
        self.require(ctx, P.READ_USERS)
        select = odata.parse_select(req.query.get("$select"), USER_PROPERTIES, "user")
        items, with_count = self._query(
            req,
            list(ctx.tenant.users.values()),
            resource="User",
            filterable=USER_FILTERABLE,
            advanced_only=USER_FILTER_ADVANCED,
            orderable={"displayName", "userPrincipalName"},
        )
        return self._page(
            ctx, req, items, lambda u: self.user_view(u, select), "users", select, with_count
        )

    @route("GET", r"users/\$count", "users.count")
    def count_users(self, ctx: Ctx, req: SubRequest) -> Resp:
        self.require(ctx, P.READ_USERS)
        return self._count(
            req, list(ctx.tenant.users.values()), "User", USER_FILTERABLE, USER_FILTER_ADVANCED
        )

    def _count(
        self, req: SubRequest, items: list, resource: str, filterable: set, advanced_only: set
    ) -> Resp:
        eventual, _ = self._advanced(req)
        if not eventual:
            raise bad_request("$count is not currently supported.")
        if "$filter" in req.query:
            node = odata.parse_filter(
                req.query["$filter"],
                resource=resource,
                allowed=filterable,
                advanced_only=advanced_only,
                advanced=True,
            )
            items = [i for i in items if odata.evaluate(node, i)]
        return Resp(200, str(len(items)), {}, "text/plain;charset=utf-8")

    @route("POST", "users", "users")
    def create_user(self, ctx: Ctx, req: SubRequest) -> Resp:
        self.require(ctx, P.CREATE_USERS)
        self.require_role(ctx, roles.USER_WRITERS)
        body = self._json(req)
        if (
            ctx.app_only
            and isinstance(body, dict)
            and "passwordProfile" in body
            and not ctx.perms & (P.CREATE_USERS | P.RESET_PASSWORD)
        ):
            raise forbidden()
        lag = int(ctx.tenant.settings.get("faults", {}).get("replication_lag_reads") or 0)
        user = self.directory.user_create(ctx.tenant, body, lag_reads=lag)
        view = {
            "@odata.context": self._context("users", None, entity=True),
            "@odata.id": f"https://graph.microsoft.com/v2/{ctx.tenant.id}/directoryObjects/"
            f"{user['id']}/Microsoft.DirectoryServices.User",
        }
        view.update(self.user_view(user, None))
        return self.ok(view, 201)

    @route("GET", "me", "me")
    def get_me(self, ctx: Ctx, req: SubRequest) -> Resp:
        if ctx.user is None:
            raise GraphError(
                400, "BadRequest", "/me request is only valid with delegated authentication flow."
            )
        self.require(ctx, P.READ_USERS | P.READ_SELF)
        return self._user_response(req, ctx.user)

    @route("GET", f"users/{SEG}", "user")
    def get_user(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        user = self._user(ctx, key)
        if not (ctx.user is not None and ctx.user["id"] == user["id"] and ctx.perms & P.READ_SELF):
            self.require(ctx, P.READ_USERS)
        return self._user_response(req, user)

    def _user_response(self, req: SubRequest, user: dict) -> Resp:
        select = odata.parse_select(req.query.get("$select"), USER_PROPERTIES, "user")
        body = {"@odata.context": self._context("users", select, entity=True)}
        body.update(self.user_view(user, select))
        return self.ok(body)

    @route("PATCH", f"users/{SEG}", "user")
    def update_user(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        user = self._user(ctx, key)
        body = self._json(req)
        if not isinstance(body, dict):
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        self._authorize_user_update(ctx, user, set(body))
        self.directory.user_update(ctx.tenant, user, body)
        return self.no_content()

    def _authorize_user_update(self, ctx: Ctx, user: dict, props: set) -> None:
        target_roles = user.get("_roles") or []
        general = props - {"passwordProfile", "accountEnabled"}
        if general:
            self.require(ctx, P.UPDATE_USERS)
        if "accountEnabled" in props:
            self.require(ctx, P.ENABLE_USERS)
        if "passwordProfile" in props:
            self.require(ctx, P.RESET_PASSWORD)
            # App-only password resets always need a directory role (at least User
            # Administrator); delegated ones need the signed-in admin's role.
            if not roles.can_reset_password(ctx.wids, target_roles):
                raise forbidden()
        is_self = ctx.user is not None and ctx.user["id"] == user["id"]
        if not is_self:
            self.require_role(
                ctx,
                roles.USER_WRITERS
                | {roles.HELPDESK, roles.PASSWORD_ADMIN, roles.AUTH_ADMIN, roles.PAA},
            )
        sensitive = props & P.SENSITIVE_PROPERTIES - {"passwordProfile"}
        if (
            sensitive
            and roles.is_admin(target_roles)
            and not roles.can_act_sensitively(ctx.wids, target_roles)
        ):
            raise forbidden()

    @route("DELETE", f"users/{SEG}", "user")
    def delete_user(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        user = self._user(ctx, key)
        self.require(ctx, P.DELETE_USERS)
        self.require_role(ctx, roles.USER_WRITERS)
        target_roles = user.get("_roles") or []
        if roles.is_admin(target_roles) and not roles.can_act_sensitively(ctx.wids, target_roles):
            raise forbidden()
        self.directory.user_delete(ctx.tenant, user)
        return self.no_content()

    @route("POST", f"users/{SEG}/revokeSignInSessions", "user.revoke")
    def revoke_sessions(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        user = self._user(ctx, key)
        self.require(ctx, P.REVOKE_SESSIONS)
        self.directory.user_revoke_sessions(ctx.tenant, user)
        return self.ok({"@odata.context": f"{CONTEXT}Edm.Boolean", "value": True})

    @route("POST", f"users/{SEG}/assignLicense", "user.assignLicense")
    def assign_license(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        user = self._user(ctx, key)
        self.require(ctx, P.ASSIGN_LICENSES)
        self.require_role(ctx, roles.LICENSE_WRITERS)
        body = self._json(req)
        self.directory.license_assign(ctx.tenant, user, body if isinstance(body, dict) else {})
        view = {"@odata.context": self._context("users", None, entity=True)}
        view.update(self.user_view(user, None))
        return self.ok(view)

    @route("GET", f"users/{SEG}/photo/\\$value", "user.photo")
    def get_photo_value(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        user = self._photo_user(ctx, key, P.READ_USERS)
        raw = photos.photo_bytes(self.state, ctx.tenant, user)
        headers = {"ETag": user["_photo"]["etag"]}
        return Resp(200, raw, headers, user["_photo"]["type"])

    @route("PUT", f"users/{SEG}/photo/\\$value", "user.photo")
    def put_photo_value(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        user = self._photo_user(ctx, key, P.WRITE_PHOTOS)
        meta = photos.inspect(req.raw)
        photos.photo_store(self.state, ctx.tenant, user, req.raw, meta)
        return self.no_content()

    @route("DELETE", f"users/{SEG}/photo/\\$value", "user.photo")
    def delete_photo_value(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        user = self._photo_user(ctx, key, P.WRITE_PHOTOS)
        if not photos.photo_drop(self.state, ctx.tenant, user):
            raise photos.image_not_found()
        return self.no_content()

    @route("GET", f"users/{SEG}/photo", "user.photo")
    def get_photo(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        user = self._photo_user(ctx, key, P.READ_USERS)
        context = f"{CONTEXT}users('{user['id']}')/photo/$entity"
        return self.ok(photos.metadata_view(user, context))

    def _photo_user(self, ctx: Ctx, key: str, allowed: set) -> dict:
        """The user a photo call is for, charged to the Outlook bucket of its mailbox."""
        user = self._user(ctx, key)
        self.require(ctx, allowed)
        wait = photos.outlook_charge(ctx.tenant, ctx.app_id, user["id"])
        if wait is not None:
            scope = f"Mailbox/{ctx.app_id}/{user['id']}"
            raise too_many_requests(wait, "ApplicationMailboxLimitExceeded", scope)
        return user

    @route("GET", f"users/{SEG}/memberOf", "user.memberOf")
    def member_of(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        user = self._user(ctx, key)
        self.require(ctx, P.READ_USERS)
        self.require(ctx, P.READ_GROUPS)
        groups = [g for g in ctx.tenant.groups.values() if user["id"] in g["_members"]]
        return self._page(
            ctx,
            req,
            groups,
            lambda g: {"@odata.type": "#microsoft.graph.group", **self.group_view(g, None)},
            "directoryObjects",
            None,
            False,
        )

    # -- groups --------------------------------------------------------------------
    @route("GET", "groups", "groups")
    def list_groups(self, ctx: Ctx, req: SubRequest) -> Resp:
        self.require(ctx, P.READ_GROUPS)
        select = odata.parse_select(req.query.get("$select"), GROUP_PROPERTIES, "group")
        items, with_count = self._query(
            req,
            list(ctx.tenant.groups.values()),
            resource="Group",
            filterable=GROUP_FILTERABLE,
            advanced_only=GROUP_FILTER_ADVANCED,
            orderable={"displayName"},
        )
        return self._page(
            ctx, req, items, lambda g: self.group_view(g, select), "groups", select, with_count
        )

    @route("GET", r"groups/\$count", "groups.count")
    def count_groups(self, ctx: Ctx, req: SubRequest) -> Resp:
        self.require(ctx, P.READ_GROUPS)
        return self._count(
            req, list(ctx.tenant.groups.values()), "Group", GROUP_FILTERABLE, GROUP_FILTER_ADVANCED
        )

    @route("POST", "groups", "groups")
    def create_group(self, ctx: Ctx, req: SubRequest) -> Resp:
        self.require(ctx, P.CREATE_GROUPS)
        body = self._json(req)
        if isinstance(body, dict) and ("members@odata.bind" in body or "owners@odata.bind" in body):
            self.require(ctx, P.CREATE_GROUPS | P.WRITE_MEMBERS)
        lag = int(ctx.tenant.settings.get("faults", {}).get("replication_lag_reads") or 0)
        group = self.directory.group_create(ctx.tenant, body, lag_reads=lag)
        view = {
            "@odata.context": self._context("groups", None, entity=True),
            "@odata.id": f"https://graph.microsoft.com/v2/{ctx.tenant.id}/directoryObjects/"
            f"{group['id']}/Microsoft.DirectoryServices.Group",
        }
        view.update(self.group_view(group, None))
        return self.ok(view, 201)

    @route("GET", f"groups/{SEG}", "group")
    def get_group(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        self.require(ctx, P.READ_GROUPS)
        group = self._group(ctx, key)
        select = odata.parse_select(req.query.get("$select"), GROUP_PROPERTIES, "group")
        body = {"@odata.context": self._context("groups", select, entity=True)}
        body.update(self.group_view(group, select))
        return self.ok(body)

    @route("PATCH", f"groups/{SEG}", "group")
    def update_group(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        group = self._group(ctx, key)
        body = self._json(req)
        if not isinstance(body, dict):
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        if set(body) - {"members@odata.bind"}:
            self.require(ctx, P.UPDATE_GROUPS)
        if "members@odata.bind" in body:
            self.require(ctx, P.WRITE_MEMBERS)
        self.require_role(ctx, roles.GROUP_WRITERS)
        self.directory.group_update(ctx.tenant, group, body)
        return self.no_content()

    @route("DELETE", f"groups/{SEG}", "group")
    def delete_group(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        group = self._group(ctx, key)
        self.require(ctx, P.DELETE_GROUPS)
        self.require_role(ctx, roles.GROUP_WRITERS)
        self.directory.group_delete(ctx.tenant, group)
        return self.no_content()

    def _members(self, ctx: Ctx, req: SubRequest, key: str, entity_set: str) -> Resp:
        self.require(ctx, P.READ_GROUPS)
        group = self._group(ctx, key)
        tenant = ctx.tenant
        members = [tenant.users.get(m) or tenant.groups.get(m) for m in group["_members"]]
        members = [m for m in members if m is not None]

        def render(obj: dict) -> dict:
            if obj["_kind"] == "user":
                return {"@odata.type": "#microsoft.graph.user", **self.user_view(obj, None)}
            return {"@odata.type": "#microsoft.graph.group", **self.group_view(obj, None)}

        return self._page(ctx, req, members, render, entity_set, None, False)

    @route("GET", f"groups/{SEG}/members", "group.members")
    def list_members(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        return self._members(ctx, req, key, "directoryObjects")

    @route("GET", f"groups/{SEG}/transitiveMembers", "group.transitiveMembers")
    def list_transitive_members(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        return self._members(ctx, req, key, "directoryObjects")

    @route("POST", f"groups/{SEG}/members/\\$ref", "group.members")
    def add_member(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        self.require(ctx, P.WRITE_MEMBERS)
        self.require_role(ctx, roles.GROUP_WRITERS)
        group = self._group(ctx, key)
        body = self._json(req)
        ref = body.get("@odata.id") if isinstance(body, dict) else None
        if not ref:
            raise bad_request("Invalid value specified for property '@odata.id'.")
        object_id = str(ref).rstrip("/").split("/")[-1]
        if not GUID_RE.match(object_id):
            raise bad_request(f"Invalid object identifier '{ref}'.")
        self.directory.member_add(ctx.tenant, group, object_id)
        return self.no_content()

    @route("DELETE", f"groups/{SEG}/members/(?P<member>[^/]+)/\\$ref", "group.members")
    def remove_member(self, ctx: Ctx, req: SubRequest, key: str, member: str) -> Resp:
        self.require(ctx, P.WRITE_MEMBERS)
        self.require_role(ctx, roles.GROUP_WRITERS)
        group = self._group(ctx, key)
        self.directory.member_remove(ctx.tenant, group, member)
        return self.no_content()

    @route("DELETE", f"groups/{SEG}/members/(?P<member>[^/$]+)", "group.members")
    def delete_member_object(self, ctx: Ctx, req: SubRequest, key: str, member: str) -> Resp:
        """Without /$ref Microsoft deletes the member object itself, if the app may."""
        group = self._group(ctx, key)
        user = self.directory.find_user(ctx.tenant, member)
        if user["id"] not in group["_members"]:
            raise not_found(member)
        if not (ctx.perms & P.WRITE_MEMBERS and ctx.perms & P.DELETE_USERS):
            raise forbidden()
        self.directory.user_delete(ctx.tenant, user)
        return self.no_content()

    # -- deleted items -------------------------------------------------------------
    @route("GET", r"directory/deletedItems/microsoft\.graph\.(?P<kind>user|group)", "deleted")
    def list_deleted(self, ctx: Ctx, req: SubRequest, kind: str) -> Resp:
        self.require(ctx, P.READ_DELETED if kind == "user" else P.READ_GROUPS)
        self.directory.purge_expired(ctx.tenant)
        # Security groups are never soft-deleted, so the group list is always empty.
        items = list(ctx.tenant.deleted.values()) if kind == "user" else []
        select = odata.parse_select(req.query.get("$select"), USER_PROPERTIES, "user")

        def render(user: dict) -> dict:
            view = {"@odata.type": "#microsoft.graph.user", **self.user_view(user, select)}
            view["deletedDateTime"] = user["deletedDateTime"]
            return view

        return self._page(
            ctx, req, items, render, f"directory/deletedItems/microsoft.graph.{kind}", select, False
        )

    @route("GET", f"directory/deletedItems/{SEG}", "deleted.item")
    def get_deleted(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        self.require(ctx, P.READ_DELETED)
        user = self.directory.find_deleted(ctx.tenant, key)
        body = {
            "@odata.context": f"{CONTEXT}directoryObjects/$entity",
            "@odata.type": "#microsoft.graph.user",
            **self.user_view(user, None),
            "deletedDateTime": user["deletedDateTime"],
        }
        return self.ok(body)

    @route("POST", f"directory/deletedItems/{SEG}/restore", "deleted.restore")
    def restore_deleted(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        self.require(ctx, P.DELETE_USERS)
        self.require_role(ctx, roles.USER_WRITERS)
        user = self.directory.find_deleted(ctx.tenant, key)
        target_roles = user.get("_roles") or []
        if roles.is_admin(target_roles) and not roles.can_act_sensitively(ctx.wids, target_roles):
            raise forbidden()
        user = self.directory.deleted_restore(ctx.tenant, key)
        body = {
            "@odata.context": f"{CONTEXT}directoryObjects/$entity",
            "@odata.type": "#microsoft.graph.user",
            **self.user_view(user, None),
        }
        return self.ok(body)

    @route("DELETE", f"directory/deletedItems/{SEG}", "deleted.item")
    def purge_deleted(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        self.require(ctx, P.DELETE_USERS)
        self.require_role(ctx, roles.USER_WRITERS)
        self.directory.deleted_purge(ctx.tenant, key)
        return self.no_content()

    @route("GET", f"directoryObjects/{SEG}", "directoryObject")
    def get_directory_object(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        obj = self.directory.find_object(ctx.tenant, key)
        if obj["_kind"] == "user":
            self.require(ctx, P.READ_USERS)
            view = {"@odata.type": "#microsoft.graph.user", **self.user_view(obj, None)}
        else:
            self.require(ctx, P.READ_GROUPS)
            view = {"@odata.type": "#microsoft.graph.group", **self.group_view(obj, None)}
        return self.ok({"@odata.context": f"{CONTEXT}directoryObjects/$entity", **view})

    # -- tenant data ---------------------------------------------------------------
    def organization_view(self, tenant: Tenant) -> dict:
        info = tenant.info
        return {
            "id": tenant.id,
            "deletedDateTime": None,
            "businessPhones": [],
            "city": info.get("city"),
            "country": info.get("country"),
            "countryLetterCode": info.get("countryLetterCode", "NL"),
            "createdDateTime": info["createdDateTime"],
            "defaultUsageLocation": None,
            "displayName": info["displayName"],
            "marketingNotificationEmails": [],
            "onPremisesLastSyncDateTime": None,
            "onPremisesSyncEnabled": None,
            "partnerTenantType": None,
            "postalCode": None,
            "preferredLanguage": "en",
            "securityComplianceNotificationMails": [],
            "securityComplianceNotificationPhones": [],
            "state": None,
            "street": None,
            "technicalNotificationMails": [],
            "tenantType": "AAD",
            "directorySizeQuota": {"used": len(tenant.users) + len(tenant.groups), "total": 50000},
            "assignedPlans": [],
            "provisionedPlans": [],
            "verifiedDomains": [
                {
                    "capabilities": "Email, OfficeCommunicationsOnline",
                    "isDefault": bool(d.get("isDefault")),
                    "isInitial": bool(d.get("isInitial")),
                    "name": d["name"],
                    "type": d["type"],
                }
                for d in tenant.info["domains"]
            ],
        }

    @route("GET", "organization", "organization")
    def list_organization(self, ctx: Ctx, req: SubRequest) -> Resp:
        self.require(ctx, P.READ_ORG)
        return self.ok(
            {
                "@odata.context": f"{CONTEXT}organization",
                "value": [self.organization_view(ctx.tenant)],
            }
        )

    @route("GET", f"organization/{SEG}", "organization")
    def get_organization(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        self.require(ctx, P.READ_ORG)
        if key.lower() != ctx.tenant.id:
            raise not_found(key)
        return self.ok(
            {
                "@odata.context": f"{CONTEXT}organization/$entity",
                **self.organization_view(ctx.tenant),
            }
        )

    @staticmethod
    def domain_view(domain: dict) -> dict:
        return {
            "id": domain["name"],
            "authenticationType": domain["type"],
            "availabilityStatus": None,
            "isAdminManaged": True,
            "isDefault": bool(domain.get("isDefault")),
            "isInitial": bool(domain.get("isInitial")),
            "isRoot": True,
            "isVerified": True,
            "passwordNotificationWindowInDays": 14,
            "passwordValidityPeriodInDays": 2147483647,
            "state": None,
            "supportedServices": ["Email", "OfficeCommunicationsOnline"],
        }

    @route("GET", "domains", "domains")
    def list_domains(self, ctx: Ctx, req: SubRequest) -> Resp:
        self.require(ctx, P.READ_DOMAINS)
        return self.ok(
            {
                "@odata.context": f"{CONTEXT}domains",
                "value": [self.domain_view(d) for d in ctx.tenant.info["domains"]],
            }
        )

    def _domain(self, ctx: Ctx, key: str) -> dict:
        domain = ctx.tenant.domain(key)
        if domain is None:
            raise not_found(key)
        return domain

    @route("GET", f"domains/{SEG}", "domain")
    def get_domain(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        self.require(ctx, P.READ_DOMAINS)
        return self.ok(
            {
                "@odata.context": f"{CONTEXT}domains/$entity",
                **self.domain_view(self._domain(ctx, key)),
            }
        )

    @route("GET", f"domains/{SEG}/federationConfiguration", "domain.federation")
    def get_federation(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        self.require(ctx, P.READ_FEDERATION)
        domain = self._domain(ctx, key)
        value = [domain["federation"]] if domain["type"] == "Federated" else []
        return self.ok(
            {
                "@odata.context": f"{CONTEXT}domains('{domain['name']}')/federationConfiguration",
                "value": value,
            }
        )

    @route("GET", "subscribedSkus", "subscribedSkus")
    def list_skus(self, ctx: Ctx, req: SubRequest) -> Resp:
        self.require(ctx, P.READ_SKUS)
        select = odata.parse_select(req.query.get("$select"), SKU_PROPERTIES, "subscribedSku")
        values = []
        for sku in ctx.tenant.info["skus"]:
            view = {k: v for k, v in sku.items() if not k.startswith("_")}
            view["consumedUnits"] = self.directory.consumed_units(ctx.tenant, sku["skuId"])
            values.append({k: view.get(k) for k in select} if select else view)
        return self.ok({"@odata.context": f"{CONTEXT}subscribedSkus", "value": values})

    # -- application objects (graphsim/applications.py) -----------------------------
    @route("GET", "applications", "applications")
    def list_applications(self, ctx: Ctx, req: SubRequest) -> Resp:
        from graphsim import applications as apps

        self.require(ctx, apps.READ_APPLICATIONS)
        select = odata.parse_select(
            req.query.get("$select"), apps.APPLICATION_PROPERTIES, "application"
        )
        items, with_count = self._query(
            req,
            [
                apps.application_view(a, None)
                for a in apps.applications_of(self.state, ctx.tenant.id)
            ],
            resource="Application",
            filterable=apps.FILTERABLE,
            advanced_only=set(),
            orderable={"displayName"},
        )
        return self._page(
            ctx,
            req,
            items,
            lambda a: {k: a[k] for k in select} if select else a,
            "applications",
            select,
            with_count,
        )

    @route("GET", r"applications\(appId='(?P<key>[^']+)'\)", "application")
    def get_application_by_app_id(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        return self._application(ctx, req, key, by_app_id=True)

    @route("GET", f"applications/{SEG}", "application")
    def get_application(self, ctx: Ctx, req: SubRequest, key: str) -> Resp:
        return self._application(ctx, req, key, by_app_id=False)

    def _application(self, ctx: Ctx, req: SubRequest, key: str, *, by_app_id: bool) -> Resp:
        from graphsim import applications as apps

        self.require(ctx, apps.READ_APPLICATIONS)
        select = odata.parse_select(
            req.query.get("$select"), apps.APPLICATION_PROPERTIES, "application"
        )
        app = apps.application_find(self.state, ctx.tenant.id, key, by_app_id=by_app_id)
        return self.ok(
            {
                "@odata.context": self._context("applications", select, entity=True),
                **apps.application_view(app, select),
            }
        )

    # -- delta and batch live in their own modules, registered below ---------------
    @route("GET", f"users/{DELTA}", "users.delta")
    def users_delta(self, ctx: Ctx, req: SubRequest) -> Resp:
        from graphsim.delta import delta_response

        self.require(ctx, P.READ_USERS)
        return delta_response(self, ctx, req, "user")

    @route("GET", f"groups/{DELTA}", "groups.delta")
    def groups_delta(self, ctx: Ctx, req: SubRequest) -> Resp:
        from graphsim.delta import delta_response

        self.require(ctx, P.READ_GROUPS)
        return delta_response(self, ctx, req, "group")

    @staticmethod
    def _json(req: SubRequest):
        if req.body is None:
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        return req.body


# Literal paths (users/delta, users/$count) must win over users/{id}.
ROUTES.sort(key=lambda r: r[1].pattern.count("(?P<"))

SKU_PROPERTIES = {
    "accountName",
    "accountId",
    "appliesTo",
    "capabilityStatus",
    "consumedUnits",
    "id",
    "prepaidUnits",
    "servicePlans",
    "skuId",
    "skuPartNumber",
    "subscriptionIds",
}


def new_request_id() -> str:
    return str(uuid.uuid4())


def now() -> float:
    return time.time()
