"""Writes of the Microsoft 365 bridge, by job. Every function that changes state is
atomic, takes `actor=` and records its event in the same transaction; work for
Microsoft 365 is left to workers (`m365bridge.sync`), sent after commit.

- `connection`: connecting a tenant (sign-in or admin consent, then checks with Graph
  and storing the tenant, its domains and tokens), and re-authorizing it;
- `deauthorize`: forgetting a tenant's tokens and bindings, writing nothing to Microsoft;
- `tenant_info`: what Graph says about a tenant (name, verified domains, partner
  federation) and `tenant_refresh`, which re-reads it with a fresh token;
- `bindings`: binding users to a tenant (C3 checks, bulk binds), unbinding, retrying a
  binding now, Microsoft's password rules for bound users;
- `passwords`: keeping a user's password (encrypted) until a binding can push it, and
  taking it at the user's next sign-in when no binding holds it yet;
- `groups`: syncing groups to a tenant as security groups, and stopping it;
- `reconcile`: "Sync now" and how often a tenant is read back from Microsoft 365;
- `brake`: the mass-deprovision brake's thresholds, and an owner releasing or
  discarding the blocks it holds;
- `preview`: dry runs of a bind and of "Sync now", planned by the engine's planner,
  reading Microsoft and writing nothing;
- `imports`: importing Microsoft 365 users from the tenant's mirror as a background
  job, and linking a conflict to the Stratus user that has its address (issue 12);
- `photo_imports`: the import's follow-up step reading each imported user's profile
  photo from Microsoft 365 (I5);
- `keys`: re-encrypting retained passwords and token caches with the newest key.

Callers use the package: `from m365bridge import services; services.user_bind(...)`.
"""

from .bindings import (
    BindResult,
    binding_password_problems,
    binding_retry,
    bindings_retry_failed,
    user_bind,
    user_unbind,
    users_bind,
    users_bind_to_their_tenants,
)
from .brake import (
    held_blocks_decider_check,
    held_blocks_discard,
    held_blocks_release,
    tenant_brake_update,
)
from .connection import (
    ConnectRefused,
    ConnectStart,
    tenant_connect_begin,
    tenant_connect_complete,
)
from .deauthorize import tenant_deauthorize
from .groups import group_bind, group_binding_retry, group_bindings_retry_failed, group_unbind
from .import_links import mirrored_group_link, mirrored_user_link
from .imports import import_run, import_start, imports_resume
from .keys import RotationResult, encryption_keys_rotate
from .passwords import (
    binding_password_capture,
    password_pending_notify,
    password_retain,
    retained_passwords_prune,
    retained_passwords_take,
)
from .photo_imports import import_photos_resume, import_photos_run, import_photos_send
from .preview import group_bind_preview, tenant_sync_preview, users_bind_preview
from .reconcile import tenant_reconcile_now, tenant_set_reconcile_interval
from .tenant_info import tenant_refresh

__all__ = [
    "import_photos_resume",
    "import_photos_run",
    "import_photos_send",
    "import_run",
    "mirrored_group_link",
    "import_start",
    "imports_resume",
    "mirrored_user_link",
    "BindResult",
    "ConnectRefused",
    "ConnectStart",
    "RotationResult",
    "binding_password_capture",
    "binding_password_problems",
    "binding_retry",
    "bindings_retry_failed",
    "encryption_keys_rotate",
    "group_bind",
    "group_bind_preview",
    "group_binding_retry",
    "group_bindings_retry_failed",
    "group_unbind",
    "held_blocks_discard",
    "held_blocks_release",
    "password_pending_notify",
    "password_retain",
    "retained_passwords_prune",
    "retained_passwords_take",
    "tenant_connect_begin",
    "tenant_connect_complete",
    "tenant_deauthorize",
    "tenant_reconcile_now",
    "tenant_refresh",
    "tenant_set_reconcile_interval",
    "tenant_sync_preview",
    "tenant_brake_update",
    "held_blocks_decider_check",
    "user_bind",
    "user_unbind",
    "users_bind",
    "users_bind_preview",
    "users_bind_to_their_tenants",
]
