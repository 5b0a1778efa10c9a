"""GraphClient: one tenant's requests to Microsoft Graph v1.0.

Every request gets a fresh `client-request-id`, the (connect, read) time-outs of the
session, a token from the tenant's `TokenSource` (refreshed once on a 401), and, for
writes, a slot from the tenant's shared `WriteBudget` at the request's priority (sent to
Microsoft as `x-ms-throttle-priority`), and its resource units from the tenant's
`ReadBudget` (every request costs units; a `$batch` what its items cost). 429, 503
and 504 are retried after `Retry-After` (plus jitter, up to a cap); every other failure
is raised at once as one of the typed exceptions in `errors`.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import requests
from django import db

from directory.backoff import growing_wait, jittered

from .auth import TokenSource
from .budget import WriteBudget
from .config import GraphConfig
from .errors import GraphError, Throttled, Transient, error_from_response, parse_retry_after
from .reads import ReadBudget, batch_units, request_units
from .transport import session_for

log = logging.getLogger(__name__)

BATCH_SIZE = 20
RETRY_STATUSES = frozenset({429, 503, 504})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Called as observer(tenant_id=, method=, status=, seconds=, headers=) after every HTTP
# exchange with Graph (status 0: no answer), for metrics and logs (ops registers them).
response_observers: list = []


@dataclass
class BatchRequest:
    id: str
    method: str
    url: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)

    @property
    def is_write(self) -> bool:
        return self.method.upper() not in READ_METHODS

    def as_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {"id": self.id, "method": self.method.upper(), "url": self.url}
        headers = dict(self.headers)
        if self.body is not None:
            headers.setdefault("Content-Type", "application/json")
            item["body"] = self.body
        if headers:
            item["headers"] = headers
        if self.depends_on:
            item["dependsOn"] = list(self.depends_on)
        return item


@dataclass
class BatchResult:
    id: str
    status: int
    headers: dict[str, str]
    body: Any
    error: GraphError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Page:
    items: list[dict[str, Any]]
    delta_link: str = ""  # on the last page of a delta query


class GraphClient:
    def __init__(
        self,
        *,
        config: GraphConfig,
        tokens: TokenSource,
        budget: WriteBudget | None = None,
        read_budget: ReadBudget | None = None,
        session: requests.Session | None = None,
        sleep=time.sleep,
    ):
        self.config = config
        self.tokens = tokens
        self.budget = budget
        self.read_budget = read_budget
        self.session = session or session_for(config)
        self.sleep = sleep
        # Called right before each attempt leaves (the sync engine renews its lease
        # here, the reconcile counts requests), so the gap between two calls is at most
        # one request, one pause, one budget wait and one token refresh.
        self.before_request: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"GraphClient(tenant_id={self.tokens.tenant_id!r})"

    # --- one request -------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: dict | None = None,
        write_cost: int | None = None,
        priority: str = "normal",
        patience: float | None = None,
    ) -> requests.Response:
        """Send one request and return the successful response, or raise GraphError.
        `priority` (low, normal, high) orders its writes in the budget and is sent as
        `x-ms-throttle-priority`; `patience` is the most seconds its writes wait for the
        budget (beyond it `Throttled` is raised and nothing is sent). `data` is a binary
        body (a photo), sent as is."""
        method = method.upper()
        url = self._url(path)
        cost = write_cost if write_cost is not None else (0 if method in READ_METHODS else 1)
        units = self._units(method, path, params, json)
        headers = {"x-ms-throttle-priority": priority, **(headers or {})}
        refreshed = False
        attempt = 0
        while True:
            # Resource units first: the write is reserved last, just before it leaves, so
            # nothing but the request itself lies between its count and Microsoft's
            # (`budget.TRANSIT_ALLOWANCE`), and a wait for units never wastes write quota.
            if self.read_budget is not None:
                self.read_budget.take(units)
            if cost and self.budget is not None:
                self.budget.take(cost, priority=priority, max_wait=patience)
            client_request_id = str(uuid.uuid4())
            response = self._send(
                method,
                url,
                params=params,
                json=json,
                data=data,
                headers=headers,
                client_request_id=client_request_id,
                attempt=attempt,
            )
            if response is None:  # a network failure of a read, worth another try
                attempt += 1
                self._pause(None, attempt)
                continue
            self._note_usage(response, units)
            if response.status_code < 400:
                return response
            if response.status_code == 401 and not refreshed:
                refreshed = True
                self.tokens.token(force_refresh=True)
                continue
            error = error_from_response(
                response.status_code,
                response.headers,
                _json_or_none(response),
                client_request_id=client_request_id,
            )
            if response.status_code in RETRY_STATUSES and attempt < self.config.max_retries:
                wait = getattr(error, "retry_after", None)
                if response.status_code == 429:
                    self._hold(wait, response.headers, writes=bool(cost))
                if wait is not None and wait > self.config.max_retry_wait:
                    raise error
                attempt += 1
                self._pause(wait, attempt)
                continue
            raise error

    def _send(self, method, url, *, params, json, headers, client_request_id, attempt, data=None):
        all_headers = {
            "Accept": "application/json",
            "client-request-id": client_request_id,
            **(headers or {}),
        }
        all_headers["Authorization"] = f"Bearer {self.tokens.token()}"
        if self.before_request is not None:
            self.before_request()
        started = time.monotonic()
        try:
            response = self.session.request(
                method, url, params=params, json=json, data=data, headers=all_headers
            )
        except requests.RequestException as exc:
            self._observe(method, 0, started, {})
            log.warning(
                "graph %s %s failed: %s (client-request-id %s)",
                method,
                _loggable(url),
                type(exc).__name__,
                client_request_id,
            )
            if method in READ_METHODS and attempt < self.config.max_retries:
                return None
            raise Transient(
                f"Could not reach Microsoft Graph: {type(exc).__name__}.",
                client_request_id=client_request_id,
            ) from None
        self._observe(method, response.status_code, started, response.headers)
        log.debug(
            "graph %s %s -> %s in %.0f ms (request-id %s)",
            method,
            _loggable(url),
            response.status_code,
            (time.monotonic() - started) * 1000,
            response.headers.get("request-id", ""),
        )
        return response

    def _observe(self, method, status, started, headers) -> None:
        for observer in response_observers:
            try:
                observer(
                    tenant_id=self.tokens.tenant_id,
                    method=method,
                    status=status,
                    seconds=time.monotonic() - started,
                    headers=headers,
                )
            except Exception:  # an observer must never break a Graph call
                log.exception("a Graph response observer failed")

    def _pause(self, retry_after: float | None, attempt: int) -> None:
        """Wait as Microsoft asked (or back off exponentially), plus jitter so retrying
        workers do not return in lockstep, never beyond the cap."""
        if retry_after is None:
            retry_after = growing_wait(attempt, first=1, cap=30)
        wait = jittered(retry_after) + random.uniform(0, 0.05)
        self.sleep(min(wait, self.config.max_retry_wait))

    def _hold(self, retry_after: float | None, headers, *, writes: bool) -> None:
        """Microsoft refused: every worker of this tenant waits its Retry-After, for
        writes (a write refused) or for every request (resource units used up)."""
        if not retry_after:
            return
        if writes and self.budget is not None:
            self.budget.hold(retry_after)
        units_out = headers.get("x-ms-throttle-information") == "ResourceUnitLimitExceeded"
        if self.read_budget is not None and (units_out or not writes):
            self.read_budget.hold(retry_after)

    @staticmethod
    def _units(method: str, path: str, params: dict | None, json: Any) -> int:
        if method == "POST" and path == "$batch" and isinstance(json, dict):
            return batch_units(json["requests"])
        return request_units(method, path, params)

    def _note_usage(self, response: requests.Response, units: int) -> None:
        value = response.headers.get("x-ms-throttle-limit-percentage")
        if value and self.budget is not None:
            try:
                self.budget.report_usage(float(value))
            except ValueError:
                pass
        if self.read_budget is not None:
            self.read_budget.charged(units, response.headers.get("x-ms-resource-unit"))

    def _url(self, path: str) -> str:
        base = self.config.graph_base
        if path.startswith(("https://", "http://")):
            if not path.startswith(base + "/"):
                raise ValueError(f"refusing to send a token outside {base}: {_loggable(path)}")
            return path
        return f"{base}/{path.lstrip('/')}"

    # --- conveniences ------------------------------------------------------------------
    def get(self, path: str, *, params: dict | None = None, headers: dict | None = None) -> Any:
        return _json_or_none(self.request("GET", path, params=params, headers=headers))

    def post(self, path: str, body: Any) -> Any:
        return _json_or_none(self.request("POST", path, json=body))

    def patch(self, path: str, body: Any) -> None:
        self.request("PATCH", path, json=body)

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def pages(
        self, path: str, *, params: dict | None = None, headers: dict | None = None
    ) -> Iterator[Page]:
        """The one pager: every page of a collection or a delta query, following
        `@odata.nextLink` (whose URL carries the query, so `params` go on the first request
        only). A delta query's last page has its `@odata.deltaLink`; a stale delta link
        raises `DeltaExpired`."""
        url = path
        while url:
            data = self.get(url, params=params, headers=headers) or {}
            params = None
            url = data.get("@odata.nextLink", "")
            yield Page(items=data.get("value", []), delta_link=data.get("@odata.deltaLink", ""))

    def pages_ahead(
        self,
        path: str,
        *,
        params: dict | None = None,
        headers: dict | None = None,
        tick: Callable[[], None] | None = None,
        tick_seconds: float = 10.0,
    ) -> Iterator[Page]:
        """`pages`, with the next page's request in flight while the caller works on
        this one: still one request at a time, in order, but the caller's work on a page
        (writing it) overlaps Microsoft's time to serve the next. The first page is read
        on the caller's thread (so the token is in the cache before the fetching thread
        needs it); `tick` runs on the caller's thread before each page is asked for and
        every `tick_seconds` while it waits for one (the reconcile renews its lease
        there, never from the fetching thread). Errors of a fetch are raised to the
        caller when it reaches that page."""
        if tick is not None:
            tick()
        data = self.get(path, params=params, headers=headers) or {}
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-pages") as pool:
            try:
                yield from self._pages_fetched(pool, data, headers, tick, tick_seconds)
            finally:  # a token refresh may have opened the thread's own database connection
                pool.submit(db.connections.close_all)

    def _pages_fetched(self, pool, data, headers, tick, tick_seconds) -> Iterator[Page]:
        while True:
            url = data.get("@odata.nextLink", "")
            future = None
            if url:
                if tick is not None:
                    tick()
                future = pool.submit(self.get, url, headers=headers)
            try:
                yield Page(items=data.get("value", []), delta_link=data.get("@odata.deltaLink", ""))
            except GeneratorExit:
                if future is not None:
                    future.cancel()
                raise
            if future is None:
                return
            data = _waited(future, tick, tick_seconds) or {}

    def items(
        self, path: str, *, params: dict | None = None, headers: dict | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a collection, page after page."""
        for page in self.pages(path, params=params, headers=headers):
            yield from page.items

    # --- $batch ------------------------------------------------------------------------
    def batch(
        self,
        requests_: list[BatchRequest],
        *,
        priority: str = "normal",
        patience: float | None = None,
    ) -> list[BatchResult]:
        """Send requests 20 per `$batch` at `priority` (each item carries it too); return
        one result per request, in order. Items that failed transiently (429/503/504, and
        the 424s depending on them) are sent again after the longest Retry-After; every
        other failure is returned. `patience`: see `request`."""
        ids = [r.id for r in requests_]
        if len(set(ids)) != len(ids):
            raise ValueError("batch request ids must be unique")
        results: dict[str, BatchResult] = {}
        for start in range(0, len(requests_), BATCH_SIZE):
            results.update(
                self._batch_chunk(
                    requests_[start : start + BATCH_SIZE], priority=priority, patience=patience
                )
            )
        return [results[r.id] for r in requests_]

    def _batch_chunk(
        self, chunk: list[BatchRequest], *, priority: str, patience: float | None
    ) -> dict[str, BatchResult]:
        results: dict[str, BatchResult] = {}
        pending = chunk
        for round_ in range(self.config.max_retries + 1):
            items = [r.as_json() for r in pending]
            for item in items:
                item.setdefault("headers", {}).setdefault("x-ms-throttle-priority", priority)
            try:
                body = self.request(
                    "POST",
                    "$batch",
                    json={"requests": items},
                    write_cost=sum(1 for r in pending if r.is_write),
                    priority=priority,
                    patience=patience,
                ).json()
            except GraphError as exc:
                if not round_:
                    raise
                # A retry round could not go: the items of earlier rounds keep their
                # answers, the ones still pending fail with this error.
                results.update({r.id: _failed(r.id, exc) for r in pending})
                break
            responses = {str(item.get("id")): item for item in body.get("responses", [])}
            failed: dict[str, BatchResult] = {}
            for request_ in pending:
                item = responses.get(request_.id, {"status": 500, "body": None})
                result = _batch_result(request_.id, item)
                (failed if result.error else results)[request_.id] = result
            retry = {i for i, r in failed.items() if r.status in RETRY_STATUSES}
            retry |= {
                r.id
                for r in pending
                if r.id in failed and failed[r.id].status == 424 and set(r.depends_on) & retry
            }
            for request_id, result in failed.items():
                if request_id not in retry or round_ == self.config.max_retries:
                    results[request_id] = result
            if not retry or round_ == self.config.max_retries:
                break
            waits = [getattr(failed[i].error, "retry_after", None) for i in retry]
            longest = max((w for w in waits if w is not None), default=None)
            refused = [r for r in pending if r.id in retry and failed[r.id].status == 429]
            if refused:
                writes = any(r.is_write for r in refused)
                self._hold(longest, failed[refused[0].id].headers, writes=writes)
            if longest is not None and longest > self.config.max_retry_wait:
                results.update({i: failed[i] for i in retry})
                break
            self._pause(longest, round_ + 1)
            pending = [r for r in pending if r.id in retry]
        return results


def _failed(request_id: str, error: GraphError) -> BatchResult:
    return BatchResult(id=request_id, status=error.status or 0, headers={}, body=None, error=error)


def _batch_result(request_id: str, item: dict[str, Any]) -> BatchResult:
    status = int(item.get("status") or 500)
    headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
    body = item.get("body")
    error = None
    if status >= 400:
        error = error_from_response(status, headers, body)
        if isinstance(error, Throttled) and error.retry_after is None:
            error.retry_after = parse_retry_after(headers.get("Retry-After"))
    return BatchResult(id=request_id, status=status, headers=headers, body=body, error=error)


def _waited(future: Future, tick: Callable[[], None] | None, every: float) -> Any:
    """The future's result, calling `tick` every `every` seconds while it is not ready."""
    while True:
        try:
            return future.result(timeout=every if tick is not None else None)
        except FutureTimeout:
            tick()


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _loggable(url: str) -> str:
    """The URL without its query string: filters can hold people's names and emails."""
    return url.split("?", 1)[0]
