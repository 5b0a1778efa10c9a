"""The ASGI application: one origin serving login, Graph and the control API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from graphsim import control
from graphsim.batch import run_batch
from graphsim.errors import GraphError
from graphsim.graph import GraphService, Resp, SubRequest, too_many_requests
from graphsim.login import Login
from graphsim.store import State, Tenant
from graphsim.tokens import Signer

ALL_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]
DIAGNOSTIC = (
    '{"ServerInfo":{"DataCenter":"graphsim","Slice":"E","Ring":"5","ScaleUnit":"000",'
    '"RoleInstance":"GRAPHSIM"}}'
)


class Sim:
    """Everything one graphsim process holds: state, keys and the three front doors."""

    def __init__(self, data_dir: str):
        self.state = State(data_dir)
        self.signer = Signer(data_dir)
        self.graph = GraphService(self.state, self.signer)
        self.directory = self.graph.directory
        self.login = Login(self)

    # -- logging -------------------------------------------------------------------
    def log(
        self,
        tenant_id: str,
        method: str,
        path: str,
        status: int,
        ru: int,
        write: int,
        app_id: str | None,
        started: float,
        note: str = "",
    ) -> None:
        self.state.db.log(
            (
                tenant_id,
                time.time(),
                method,
                path,
                status,
                ru,
                write,
                app_id,
                round((time.perf_counter() - started) * 1000, 2),
                note,
            )
        )

    def log_login(self, tenant_id: str, request: Request, status: int, app_id) -> None:
        self.state.db.log(
            (
                tenant_id,
                time.time(),
                request.method,
                request.url.path,
                status,
                0,
                0,
                app_id,
                0.0,
                "login",
            )
        )

    def consent(self, tenant: Tenant, app: dict, scopes: list, admin: bool) -> None:
        grant = control.grant_record(tenant, app["clientId"])
        if admin:
            grant["applicationPermissions"] = sorted(
                set(grant["applicationPermissions"]) | set(app.get("applicationPermissions") or [])
            )
        grant["delegatedPermissions"] = sorted(
            set(grant["delegatedPermissions"])
            | {s for s in scopes if s not in ("openid", "profile", "offline_access", "email")}
            | (set(app.get("delegatedPermissions") or []) if admin else set())
        )
        self.state.save_tenant(tenant)

    # -- Graph front door ----------------------------------------------------------
    async def graph_endpoint(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        client_request_id = request.headers.get("client-request-id") or request_id
        raw = await request.body()
        path = request.url.path[len("/v1.0") :]
        query = dict(request.query_params)
        headers = {k.lower(): v for k, v in request.headers.items()}
        ctx = None
        try:
            ctx = self.graph.authenticate(
                headers.get("authorization"), str(request.base_url), request_id, client_request_id
            )
            body = self._parse_body(raw, headers)
            sub = SubRequest(request.method, path, query, headers, body, raw)
            fault = await self._apply_faults(ctx, request)
            if fault is not None:
                resp = fault
            elif path.strip("/") == "$batch" and request.method == "POST":
                resp = self._batch(ctx, body, request_id, started)
            else:
                resp = self.graph.dispatch(ctx, sub)
        except GraphError as err:
            resp = self.graph.error(ctx, err, request_id, client_request_id)
        if resp.note == "drop":
            self.log(
                ctx.tenant.id,
                request.method,
                request.url.path,
                0,
                0,
                0,
                ctx.app_id,
                started,
                "fault:drop",
            )
            self._drop(request)
            return _Dropped()
        if ctx is not None:
            self.log(
                ctx.tenant.id,
                request.method,
                request.url.path + (f"?{request.url.query}" if request.url.query else ""),
                resp.status,
                resp.ru,
                resp.write,
                ctx.app_id,
                started,
                resp.note,
            )
        return self._to_response(resp, request_id, client_request_id)

    @staticmethod
    def _parse_body(raw: bytes, headers: dict):
        if not raw:
            return None
        if "json" not in headers.get("content-type", "application/json"):
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise GraphError(
                400,
                "BadRequest",
                "Unable to read JSON request payload. Please "
                "ensure Content-Type header is set and payload is of valid JSON "
                "format.",
            ) from None

    def _batch(self, ctx, body, request_id: str, started: float) -> Resp:
        def log_item(item, resp):
            self.log(
                ctx.tenant.id,
                str(item.get("method", "")).upper(),
                "/v1.0/" + str(item.get("url", "")).lstrip("/"),
                resp.status,
                resp.ru,
                resp.write,
                ctx.app_id,
                started,
                f"batch:{request_id}",
            )

        resp = run_batch(self.graph, ctx, body, log_item)
        resp.note = "batch"
        return resp

    async def _apply_faults(self, ctx, request: Request) -> Resp | None:
        """Per-tenant latency, forced 429s, dropped connections, time-outs and 5xx."""
        tenant = ctx.tenant
        faults = tenant.settings.get("faults") or {}
        latency = float(faults.get("latency_ms") or 0) + random.uniform(
            0, float(faults.get("jitter_ms") or 0)
        )
        if latency:
            await asyncio.sleep(latency / 1000)
        if tenant.runtime.forced_429 > 0:
            tenant.runtime.forced_429 -= 1
            retry = float(faults.get("force_429_retry_after") or 1) / tenant.scale
            err = too_many_requests(
                retry,
                "ResourceUnitLimitExceeded",
                f"Tenant_Application/ReadWrite/{ctx.app_id}/{tenant.id}",
            )
            resp = self.graph.error(ctx, err)
            resp.note = "fault:429"
            return resp
        if random.random() < float(faults.get("drop_rate") or 0):
            return Resp(0, note="drop")
        if random.random() < float(faults.get("timeout_rate") or 0):
            await asyncio.sleep(float(faults.get("timeout_seconds") or 30))
            return Resp(0, note="drop")
        if random.random() < float(faults.get("error_rate") or 0):
            status = random.choice(faults.get("error_statuses") or [503, 504])
            resp = self.graph.error(ctx, server_error(status))
            resp.note = f"fault:{status}"
            return resp
        return None

    def _drop(self, request: Request) -> None:
        """Close the TCP connection without an HTTP response, as a flaky network does."""
        send = request.scope.get("graphsim.raw_send")
        cycle = getattr(send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is not None:
            cycle.disconnected = True
            transport.abort()

    @staticmethod
    def _to_response(resp: Resp, request_id: str, client_request_id: str) -> Response:
        headers = {
            "request-id": request_id,
            "client-request-id": client_request_id,
            "x-ms-ags-diagnostic": DIAGNOSTIC,
            "Cache-Control": "no-cache",
            "Strict-Transport-Security": "max-age=31536000",
            "x-ms-resource-unit": str(resp.ru or 1),
        }
        if 200 <= resp.status < 300:
            headers["OData-Version"] = "4.0"
        headers.update(resp.headers)
        body = resp.body
        if body is None or resp.status == 204:
            return Response(status_code=resp.status, headers=headers)
        if isinstance(body, (dict, list)):
            content = json.dumps(body, separators=(",", ":")).encode()
        elif isinstance(body, str):
            content = body.encode()
        else:
            content = body
        return Response(
            content,
            status_code=resp.status,
            headers=headers,
            media_type=resp.content_type or "application/json",
        )


def server_error(status: int) -> GraphError:
    if status == 504:
        return GraphError(
            504,
            "GatewayTimeout",
            "The gateway did not receive a timely response from the upstream service.",
        )
    return GraphError(
        503, "serviceNotAvailable", "The service is temporarily unavailable. Please retry later."
    )


class _Dropped(Response):
    """A response that sends nothing: the connection is already gone."""

    def __init__(self):
        super().__init__()

    async def __call__(self, scope, receive, send) -> None:
        return None


class RawSendMiddleware:
    """Keeps uvicorn's own `send` in the scope so a fault can abort the connection."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            scope["graphsim.raw_send"] = send
        await self.app(scope, receive, send)


def build_app(data_dir: str) -> tuple[RawSendMiddleware, Sim]:
    sim = Sim(data_dir)
    login = sim.login
    routes = [
        Mount("/_graphsim", routes=control.routes(sim)),
        Route("/v1.0/{path:path}", sim.graph_endpoint, methods=ALL_METHODS),
        Route("/common/discovery/instance", login.instance_discovery),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", login.openid_configuration),
        Route("/{tenant}/discovery/v2.0/keys", login.keys),
        Route("/{tenant}/discovery/keys", login.keys),
        Route("/{tenant}/oauth2/v2.0/token", login.token, methods=["POST"]),
        Route("/{tenant}/oauth2/v2.0/authorize", login.authorize, methods=["GET", "POST"]),
        Route("/{tenant}/adminconsent", login.admin_consent, methods=["GET", "POST"]),
        Route("/{tenant}/v2.0/adminconsent", login.admin_consent, methods=["GET", "POST"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        # uvicorn re-raises SIGTERM after a graceful shutdown, so code after
        # uvicorn.run() never runs: flush the buffered request log here.
        sim.state.db.flush_log()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sim = sim
    return RawSendMiddleware(app), sim
