"""JSON batching: up to 20 requests, dependsOn chains and per-item status.

Each item goes through GraphService.dispatch, so throttling is evaluated per item
(an over-limit item gets its own 429 with Retry-After in its headers) while the
outer response stays 200.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

from graphsim.errors import GraphError
from graphsim.graph import GraphService, Resp, SubRequest, error_body

MAX_REQUESTS = 20


def _batch_error(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def _validate(body) -> list[dict]:
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise _batch_error("Invalid batch payload format.")
    items = body["requests"]
    if not items:
        raise _batch_error("Invalid batch payload format.")
    if len(items) > MAX_REQUESTS:
        raise _batch_error(
            f"The number of requests in the batch ({len(items)}) exceeds the "
            f"maximum of {MAX_REQUESTS}."
        )
    seen = set()
    for item in items:
        if (
            not isinstance(item, dict)
            or not item.get("id")
            or not item.get("method")
            or not item.get("url")
        ):
            raise _batch_error("Invalid batch payload format.")
        key = str(item["id"]).lower()
        if key in seen:
            raise _batch_error(f"Batch request id '{item['id']}' is duplicated.")
        seen.add(key)
    for item in items:
        for dep in item.get("dependsOn") or []:
            if str(dep).lower() not in seen:
                raise _batch_error(f"Request '{item['id']}' depends on unknown request '{dep}'.")
    return items


def _sub_request(item: dict) -> SubRequest | GraphError:
    url = str(item["url"])
    if url.startswith("http"):
        return _batch_error("Batch request URLs must be relative.")
    parts = urlsplit("/" + url.lstrip("/"))
    headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
    body = item.get("body")
    if body is not None and "content-type" not in headers:
        return _batch_error("Content-Type header must be specified when a body is present.")
    raw = json.dumps(body).encode() if body is not None else b""
    return SubRequest(
        method=str(item["method"]).upper(),
        path=parts.path,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=headers,
        body=body,
        raw=raw,
    )


def run_batch(service: GraphService, ctx, body, log_item) -> Resp:
    items = _validate(body)
    statuses: dict[str, int] = {}
    responses = []
    for item in items:
        key = str(item["id"]).lower()
        deps = [str(d).lower() for d in item.get("dependsOn") or []]
        sub = _sub_request(item)
        if any(statuses.get(d, 424) >= 400 for d in deps):
            resp = service.error(
                ctx,
                GraphError(
                    424, "FailedDependency", "The request depends on a request that failed."
                ),
            )
        elif isinstance(sub, GraphError):
            resp = service.error(ctx, sub)
        else:
            resp = service.dispatch(ctx, sub)
        log_item(item, resp)
        statuses[key] = resp.status
        responses.append(_render(item, resp, ctx))
    return service.ok({"responses": responses})


def _render(item: dict, resp: Resp, ctx) -> dict:
    headers = {"Cache-Control": "no-cache", "x-ms-resource-unit": str(resp.ru or 1)}
    if resp.content_type:
        headers["Content-Type"] = resp.content_type
    headers.update(resp.headers)
    out = {"id": str(item["id"]), "status": resp.status, "headers": headers}
    if resp.status != 204:
        body = resp.body
        if isinstance(body, bytes):
            import base64

            body = base64.b64encode(body).decode()
        out["body"] = body
    return out


__all__ = ["run_batch", "error_body"]
