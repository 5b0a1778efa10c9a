"""Command line: `python -m graphsim serve ...` and control commands against a running
server (`python -m graphsim tenant create --domain contoso.example --users 5000`)."""

from __future__ import annotations

import argparse
import json
import os
import sys

DEFAULT_URL = "https://127.0.0.1:8443"


def serve(args) -> int:
    import uvicorn

    from graphsim.app import build_app
    from graphsim.certs import ensure_certificates

    paths = ensure_certificates(args.data)
    app, sim = build_app(args.data)
    print(f"graphsim: CA certificate: {os.path.abspath(paths.ca)}", flush=True)
    print(
        f"graphsim: listening on https://{args.host}:{args.port} "
        f"(data in {os.path.abspath(args.data)})",
        flush=True,
    )
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            ssl_keyfile=paths.key,
            ssl_certfile=paths.cert,
            log_level=args.log_level,
            access_log=False,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=2,
        )
    finally:
        sim.state.db.flush_log()
    return 0


def _control(args):
    from graphsim.client import GraphSimControl

    ca = args.ca or os.path.join(args.data, "ca.pem")
    return GraphSimControl(args.url, ca if os.path.exists(ca) else None)


def _domains(args) -> list:
    domains = [{"name": d} for d in args.domain or []]
    for name in args.federated_domain or []:
        domains.append({"name": name, "federated": True, "partner": args.partner})
    return domains


def run_control(args) -> object:
    c = _control(args)
    command = (args.group, getattr(args, "action", None))
    if command == ("tenant", "create"):
        admins = None
        if args.admin:
            admins = []
            for item in args.admin:
                upn, _, rest = item.partition(":")
                password, _, role_text = rest.partition(":")
                admins.append(
                    {
                        "userPrincipalName": upn,
                        "password": password or None,
                        "roles": role_text.split(",") if role_text else ["Global Administrator"],
                    }
                )
        skus = []
        for item in args.sku or []:
            part, _, seats = item.partition(":")
            skus.append({"skuPartNumber": part, "seats": int(seats or 25)})
        return c.create_tenant(
            display_name=args.name,
            domains=_domains(args),
            users=args.users,
            groups=args.groups,
            admins=admins,
            skus=skus,
            size=args.size,
            throttling=args.throttling,
            time_scale=args.time_scale,
            seed=args.seed,
            user_password=args.user_password,
            tenant_id=args.id,
            photoShare=args.photo_share or None,
        )
    if command == ("tenant", "list"):
        return c.list_tenants()
    if command == ("tenant", "show"):
        return c.get_tenant(args.tenant)
    if command == ("tenant", "reset"):
        return c.reset_tenant(args.tenant)
    if command == ("tenant", "delete"):
        return c.delete_tenant(args.tenant)
    if command == ("app", "register"):
        return c.register_app(
            display_name=args.name,
            redirect_uris=args.redirect_uri or [],
            application_permissions=args.app_permission or [],
            delegated_permissions=args.delegated_permission or [],
            client_id=args.client_id,
            secret=args.secret,
        )
    if command == ("app", "list"):
        return c.list_apps()
    if command == ("app", "delete"):
        return c.delete_app(args.client_id)
    if command == ("app", "secret-expiry"):
        return c.set_secret_expiry(args.tenant, args.client_id, args.end)
    if command == ("grant", None):
        return c.grant(
            args.tenant,
            args.client_id,
            application_permissions=args.app_permission or [],
            delegated_permissions=args.delegated_permission or [],
            directory_roles=args.role or [],
            replace=args.replace,
        )
    if command == ("faults", None):
        faults = json.loads(args.json) if args.json else {}
        return c.set_faults(args.tenant, **faults)
    if command == ("throttling", None):
        return c.set_throttling(args.tenant, enabled=args.state == "on", size=args.size)
    if command == ("time-scale", None):
        return c.set_time_scale(args.tenant, args.scale)
    if command == ("log", None):
        return c.request_log(args.tenant, since=args.since, limit=args.limit)
    if command == ("counters", None):
        return c.counters(args.tenant)
    if command == ("app-write-limit", None):
        writes = None if args.writes == "default" else int(args.writes)
        return c.set_app_write_limit(args.app, writes)
    if command == ("write-windows", None):
        if args.app:
            return c.app_write_windows(args.app)
        if not args.tenant:
            raise SystemExit("write-windows needs a tenant, or --app CLIENT_ID")
        return c.write_windows(args.tenant)
    if command == ("user", "list"):
        return c.users(args.tenant, deleted=args.deleted)
    if command == ("user", "set-password"):
        return c.admin_set_password(args.tenant, args.user, args.password, args.force_change)
    if command == ("user", "block"):
        return c.admin_block(args.tenant, args.user)
    if command == ("user", "unblock"):
        return c.admin_unblock(args.tenant, args.user)
    if command == ("user", "revoke"):
        return c.admin_revoke_sessions(args.tenant, args.user)
    if command == ("user", "delete"):
        return c.admin_delete_user(args.tenant, args.user, permanent=args.permanent)
    if command == ("user", "restore"):
        return c.admin_restore_user(args.tenant, args.user)
    if command == ("user", "update"):
        attributes = json.loads(args.json)
        return c.admin_update_user(args.tenant, args.user, **attributes)
    raise SystemExit(f"unknown command {command}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m graphsim", description="Local Entra ID + Microsoft Graph emulator"
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("GRAPHSIM_URL", DEFAULT_URL),
        help="control commands: server URL (env GRAPHSIM_URL)",
    )
    parser.add_argument(
        "--ca",
        default=os.environ.get("GRAPHSIM_CA"),
        help="control commands: CA file (default DATA/ca.pem)",
    )
    parser.add_argument("--data", default=".graphsim", help="data folder (default .graphsim)")
    groups = parser.add_subparsers(dest="group", required=True)

    p = groups.add_parser("serve", help="run the HTTPS server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443)
    p.add_argument("--data", default=".graphsim")
    p.add_argument("--log-level", default="warning")

    tenant = groups.add_parser("tenant").add_subparsers(dest="action", required=True)
    p = tenant.add_parser("create")
    p.add_argument("--name")
    p.add_argument("--id")
    p.add_argument("--domain", action="append", help="verified managed domain (repeatable)")
    p.add_argument("--federated-domain", action="append", help="federated domain (repeatable)")
    p.add_argument("--partner", default="godaddy", help="federation partner: godaddy or adfs")
    p.add_argument("--users", type=int, default=0)
    p.add_argument("--groups", type=int, default=0)
    p.add_argument(
        "--photo-share", type=float, default=0.0, help="share of generated users with a photo"
    )
    p.add_argument("--user-password", help="password for every generated user")
    p.add_argument(
        "--admin",
        action="append",
        help="UPN:PASSWORD[:Role,Role] (repeatable; default admin@initial domain)",
    )
    p.add_argument("--sku", action="append", help="PARTNUMBER:SEATS, e.g. SPE_E3:100")
    p.add_argument("--size", choices=["small", "medium", "large"])
    p.add_argument("--throttling", action="store_true")
    p.add_argument("--time-scale", type=float, default=1.0)
    p.add_argument("--seed", type=int)
    tenant.add_parser("list")
    for action in ("show", "reset", "delete"):
        tenant.add_parser(action).add_argument("tenant")

    app = groups.add_parser("app").add_subparsers(dest="action", required=True)
    p = app.add_parser("register")
    p.add_argument("--name", default="graphsim app")
    p.add_argument("--client-id")
    p.add_argument("--secret")
    p.add_argument("--redirect-uri", action="append")
    p.add_argument("--app-permission", action="append")
    p.add_argument("--delegated-permission", action="append")
    app.add_parser("list")
    app.add_parser("delete").add_argument("client_id")
    p = app.add_parser(
        "secret-expiry", help="end the app's current secret at a date; T becomes its home tenant"
    )
    p.add_argument("tenant")
    p.add_argument("client_id")
    p.add_argument("end", help="ISO 8601, e.g. 2027-01-31T00:00:00Z")

    p = groups.add_parser("grant", help="grant permissions/roles to an app in a tenant")
    p.add_argument("tenant")
    p.add_argument("client_id")
    p.add_argument("--app-permission", action="append")
    p.add_argument("--delegated-permission", action="append")
    p.add_argument("--role", action="append", help='directory role, e.g. "User Administrator"')
    p.add_argument("--replace", action="store_true")

    p = groups.add_parser("faults", help="set a tenant's faults (JSON object)")
    p.add_argument("tenant")
    p.add_argument("json", nargs="?", help='e.g. \'{"latency_ms": 50, "error_rate": 0.1}\'')
    p = groups.add_parser("throttling")
    p.add_argument("tenant")
    p.add_argument("state", choices=["on", "off"])
    p.add_argument("--size", choices=["small", "medium", "large"])
    p = groups.add_parser("time-scale")
    p.add_argument("tenant")
    p.add_argument("scale", type=float)
    p = groups.add_parser("log")
    p.add_argument("tenant")
    p.add_argument("--since", type=int, default=0)
    p.add_argument("--limit", type=int, default=100)
    groups.add_parser("counters").add_argument("tenant")
    p = groups.add_parser(
        "write-windows", help="most writes seen in any sliding window (tenant, or --app)"
    )
    p.add_argument("tenant", nargs="?")
    p.add_argument("--app", help="an application's client id: its window across tenants")
    p = groups.add_parser(
        "app-write-limit", help="lower an application's write limit across tenants (or default)"
    )
    p.add_argument("app", help="the application's client id")
    p.add_argument("writes", help="writes per 5 min (scaled), or 'default' for 70,000")

    user = groups.add_parser("user").add_subparsers(dest="action", required=True)
    p = user.add_parser("list")
    p.add_argument("tenant")
    p.add_argument("--deleted", action="store_true")
    p = user.add_parser("set-password")
    p.add_argument("tenant")
    p.add_argument("user")
    p.add_argument("password")
    p.add_argument("--force-change", action="store_true")
    for action in ("block", "unblock", "revoke", "restore"):
        p = user.add_parser(action)
        p.add_argument("tenant")
        p.add_argument("user")
    p = user.add_parser("delete")
    p.add_argument("tenant")
    p.add_argument("user")
    p.add_argument("--permanent", action="store_true")
    p = user.add_parser("update")
    p.add_argument("tenant")
    p.add_argument("user")
    p.add_argument("json", help='e.g. \'{"jobTitle": "CFO"}\'')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.group == "serve":
        return serve(args)
    from graphsim.client import GraphSimError

    try:
        result = run_control(args)
    except GraphSimError as exc:
        print(json.dumps(exc.body, indent=2), file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0
