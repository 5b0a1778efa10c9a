"""users/delta and groups/delta, read from the tenant's change feed.

A round starts either from scratch (every current object, members included) or
from a deltaLink's sequence number (only what changed since, with @removed for
soft and hard deletions and members@delta for membership changes). Tokens carry
their issue time and the tenant's epoch: after 7 days (divided by the time scale)
or a tenant reset they fail with syncStateNotFound, as Microsoft's do.
"""

from __future__ import annotations

import time
from urllib.parse import quote, urlencode

from graphsim import odata
from graphsim.directory import GROUP_PROPERTIES, USER_PROPERTIES
from graphsim.errors import GraphError, bad_request

DELTA_LIFETIME = 7 * 24 * 3600
PAGE_SIZE = 100


def sync_state_not_found() -> GraphError:
    return GraphError(
        400,
        "syncStateNotFound",
        "The sync state generation is not found. The "
        "delta token is expired and data must be synchronized again.",
    )


def _id_filter(text: str | None) -> list[str] | None:
    if not text:
        return None
    node = odata.FilterParser(text).parse()
    ids = []

    def walk(n):
        if n[0] == "or":
            walk(n[1])
            walk(n[2])
        elif n[0] == "eq" and n[1] == "id":
            ids.append(str(n[2]).lower())
        else:
            raise GraphError(400, "Request_UnsupportedQuery", "Unsupported query.")

    walk(node)
    if len(ids) > 50:
        raise GraphError(400, "Request_UnsupportedQuery", "Unsupported query.")
    return ids


def _read_token(ctx, req, kind: str) -> dict:
    """Decode $deltatoken/$skiptoken, or build the state of a fresh round."""
    raw = req.query.get("$deltatoken") or req.query.get("$skiptoken")
    tenant = ctx.tenant
    if raw is None:
        known = USER_PROPERTIES if kind == "user" else GROUP_PROPERTIES
        text = req.query.get("$select")
        if kind == "group" and text:
            # `members` is the navigation property groups/delta tracks (members@delta).
            text = ",".join(f for f in text.split(",") if f.strip() != "members")
        select = odata.parse_select(text, known, kind)
        return {
            "k": kind,
            "s": select,
            "f": _id_filter(req.query.get("$filter")),
            "from": None,
            "to": tenant.seq,
            "o": 0,
            "t": time.time(),
            "e": tenant.info["epoch"],
        }
    token = odata.decode_token(raw)
    if not token or token.get("k") != kind:
        raise bad_request("Invalid delta token.")
    if (
        token.get("e") != tenant.info["epoch"]
        or time.time() - token["t"] > DELTA_LIFETIME / tenant.scale
    ):
        raise sync_state_not_found()
    if "$deltatoken" in req.query:
        token.update({"from": token["to"], "to": tenant.seq, "o": 0})
    return token


def _initial_entries(ctx, token: dict, kind: str) -> list:
    tenant = ctx.tenant
    objects = tenant.users if kind == "user" else tenant.groups
    ids = token["f"]
    items = [objects[i] for i in ids if i in objects] if ids is not None else list(objects.values())
    return [("full", obj, None) for obj in items]


def _changed_entries(ctx, token: dict, kind: str) -> list:
    """Net effect per object of the changes in (from, to]."""
    tenant = ctx.tenant
    latest: dict[str, dict] = {}
    members: dict[str, dict[str, str]] = {}
    for change in tenant.changes:
        if change["seq"] <= token["from"] or change["seq"] > token["to"]:
            continue
        if change["kind"] != kind:
            continue
        latest.pop(change["id"], None)
        latest[change["id"]] = change
        if change["op"] in ("member_add", "member_remove"):
            members.setdefault(change["id"], {})[change["member"]] = change["op"]
    ids = token["f"]
    entries = []
    for object_id in latest:
        if ids is not None and object_id not in ids:
            continue
        if kind == "user" and object_id in tenant.users:
            entries.append(("full", tenant.users[object_id], None))
        elif kind == "user" and object_id in tenant.deleted:
            entries.append(("removed", object_id, "changed"))
        elif kind == "group" and object_id in tenant.groups:
            entries.append(("full", tenant.groups[object_id], members.get(object_id, {})))
        else:
            entries.append(("removed", object_id, "deleted"))
    return entries


def _render(service, ctx, entry, select, kind: str) -> dict:
    mode, obj, extra = entry
    if mode == "removed":
        return {"id": obj, "@removed": {"reason": extra}}
    if kind == "user":
        view = service.user_view(obj, select)
    else:
        view = service.group_view(obj, select)
    view["id"] = obj["id"]
    if kind == "group":
        if extra is None:
            changes = {m: "member_add" for m in obj["_members"]}
        else:
            changes = extra
        member_delta = []
        for member_id, op in changes.items():
            member_type = "group" if member_id in ctx.tenant.groups else "user"
            item = {"@odata.type": f"#microsoft.graph.{member_type}", "id": member_id}
            if op == "member_remove":
                item["@removed"] = {"reason": "deleted"}
            member_delta.append(item)
        if member_delta:
            view["members@delta"] = member_delta
    return view


def delta_response(service, ctx, req, kind: str):
    token = _read_token(ctx, req, kind)
    if token["from"] is None:
        entries = _initial_entries(ctx, token, kind)
    else:
        entries = _changed_entries(ctx, token, kind)
    size = PAGE_SIZE
    prefer = req.headers.get("prefer", "")
    if "odata.maxpagesize=" in prefer:
        size = max(1, int(prefer.split("odata.maxpagesize=")[1].split(",")[0].strip() or 100))
    offset = token["o"]
    page = entries[offset : offset + size]
    entity_set = "users" if kind == "user" else "groups"
    select = token["s"]
    body = {"@odata.context": service._context(entity_set, select)}
    base = f"{ctx.base_url}v1.0/{entity_set}/delta?"
    if offset + size < len(entries):
        next_token = {**token, "o": offset + size}
        body["@odata.nextLink"] = base + urlencode(
            {"$skiptoken": odata.encode_token(next_token)}, safe="$", quote_via=quote
        )
    else:
        link_token = {**token, "o": 0, "t": time.time()}
        body["@odata.deltaLink"] = base + urlencode(
            {"$deltatoken": odata.encode_token(link_token)}, safe="$", quote_via=quote
        )
    body["value"] = [_render(service, ctx, e, select, kind) for e in page]
    return service.ok(body)
