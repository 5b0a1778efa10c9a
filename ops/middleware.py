import re
import time
import uuid

from . import context, health, metrics

# Answered before anything else (see health.py for why).
OPS_PATHS = {"/healthz": health.healthz, "/readyz": health.readyz, "/metrics": metrics.metrics_view}
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class OpsMiddleware:
    """First in MIDDLEWARE: answers the probes and /metrics, and for every other request
    sets the request id that its log lines carry (a proxy's X-Request-ID, or a new one)
    and records its latency by view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        ops_view = OPS_PATHS.get(request.path_info)
        if ops_view is not None:
            return ops_view(request)
        given = request.headers.get("X-Request-ID", "")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        started = time.monotonic()
        # Every field starts empty and is put back afterwards: nothing a Graph call set
        # during this request (ms_request_id) leaks into the thread's next request.
        with context.bound(request_id=request_id, tenant="", binding="", ms_request_id=""):
            response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        metrics.HTTP_REQUEST_SECONDS.labels(
            view=match.view_name if match else "unmatched",  # never the raw path: unbounded
            method=request.method if request.method in _METHODS else "other",
            status=str(response.status_code),
        ).observe(time.monotonic() - started)
        response["X-Request-ID"] = request_id
        return response


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
