"""The only code in Stratus that talks to Microsoft (Entra sign-in and Graph v1.0).

`GraphConfig` says where Microsoft is; `TokenSource` gets tokens from MSAL for one
tenant; `GraphClient` sends requests with time-outs, retries, paging, delta, `$batch`
and a write budget shared by every worker; `errors` holds the typed exceptions every
failure is mapped to, once.
"""

from .auth import AppOnlyTokens, DelegatedTokens, MemoryTokenStore, TokenSource, TokenStore
from .budget import WriteBudget
from .client import BatchRequest, BatchResult, GraphClient, Page
from .config import GraphConfig
from .errors import (
    AuthorizationError,
    BadRequest,
    Conflict,
    GraphError,
    NeedsReauthorization,
    NotFound,
    Throttled,
    Transient,
)

__all__ = [
    "AppOnlyTokens",
    "AuthorizationError",
    "BadRequest",
    "BatchRequest",
    "BatchResult",
    "Conflict",
    "DelegatedTokens",
    "GraphClient",
    "GraphConfig",
    "GraphError",
    "MemoryTokenStore",
    "NeedsReauthorization",
    "NotFound",
    "Page",
    "Throttled",
    "TokenSource",
    "TokenStore",
    "Transient",
    "WriteBudget",
]
