"""The HTTP sessions that reach Microsoft: pooled, verified, never steered by the
environment.

`trust_env = False` matters: `requests` lets `REQUESTS_CA_BUNDLE` override a session's
`verify`, and proxies from the environment would see our tokens (graph-facts §0.12).
"""

from __future__ import annotations

import threading

import requests
from requests.adapters import HTTPAdapter

from .config import GraphConfig


class _Session(requests.Session):
    """A session whose requests always carry a (connect, read) time-out, including the
    ones MSAL sends through it."""

    timeout: tuple[float, float] = (5.0, 60.0)

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        if kwargs["timeout"] is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, **kwargs)


def session_for(config: GraphConfig, *, pool_size: int = 10) -> requests.Session:
    session = _Session()
    session.timeout = (config.connect_timeout, config.read_timeout)
    session.trust_env = False
    session.verify = config.verify
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "Stratus (m365bridge)"
    return session


_shared: dict[tuple, requests.Session] = {}
_shared_lock = threading.Lock()


def tenant_session(config: GraphConfig, tenant_id: str) -> requests.Session:
    """The one pooled session of this process for a tenant (Graph and sign-in alike), so
    workers reuse TLS connections across tasks."""
    key = (
        tenant_id,
        config.login_url,
        config.graph_url,
        str(config.verify),
        config.connect_timeout,
        config.read_timeout,
    )
    with _shared_lock:
        session = _shared.get(key)
        if session is None:
            if len(_shared) >= 256:  # a bound, not an LRU: plenty for one worker's tenants
                _shared.pop(next(iter(_shared))).close()
            session = _shared[key] = session_for(config)
        return session
