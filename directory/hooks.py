"""The one place the directory announces its changes to bridges (Microsoft 365 today,
others later) without importing them.

Subscribers run synchronously inside the caller's transaction and must only record
intent (what the remote system must converge to); the work itself is queued after
commit. A `DirectoryChange` may carry a new password so a bridge can keep the
encrypted copy it needs to push; it is excluded from repr and must never be logged.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

# Kinds of change. Their values are dotted ("user.password_set") so a change is never
# mistaken for the audit event of the same name ("user_password_set"): events are what
# people read in the log; these are what bridges subscribe to. Compare with the
# constants, never with the strings.
USER_CREATED = "user.created"
USER_UPDATED = "user.updated"
USER_PASSWORD_SET = "user.password_set"
USER_SUSPENDED = "user.suspended"
USER_ACTIVATED = "user.activated"
USER_DELETING = "user.deleting"
# The profile photo was set, replaced or removed (`directory.photos`): bridges push it.
USER_PHOTO_CHANGED = "user.photo_changed"
# The password reached the organization's maximum age: bridges block remote sign-in
# until the next USER_PASSWORD_SET (behaviour P6).
USER_PASSWORD_EXPIRED = "user.password_expired"
# The user signed in with this password (just checked against its hash): a bridge
# that holds no copy of it yet may keep one now. Not a change; carries the password.
USER_SIGNED_IN = "user.signed_in"
GROUP_CREATED = "group.created"
GROUP_UPDATED = "group.updated"
GROUP_DELETING = "group.deleting"
GROUP_MEMBERS_CHANGED = "group.members_changed"


@dataclass(frozen=True)
class DirectoryChange:
    kind: str
    organization_id: int
    actor_id: int | None = None
    user_id: int | None = None
    group_id: int | None = None
    changed_fields: frozenset[str] = frozenset()
    password: str | None = field(default=None, repr=False, compare=False)


Subscriber = Callable[[DirectoryChange], None]
PasswordCheck = Callable[..., Iterable[str]]

_subscribers: list[Subscriber] = []
_password_checks: list[PasswordCheck] = []


def subscribe(subscriber: Subscriber) -> Subscriber:
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)
    return subscriber


def add_password_check(check: PasswordCheck) -> PasswordCheck:
    """Register a function `(user=, password=) -> [problem, ...]` that a bridge needs
    every password of a user it manages to pass (for example Microsoft's rules)."""
    if check not in _password_checks:
        _password_checks.append(check)
    return check


def announce(change: DirectoryChange) -> None:
    for subscriber in list(_subscribers):
        subscriber(change)


def password_checks(*, user, password: str) -> list[str]:
    return [
        problem for check in _password_checks for problem in check(user=user, password=password)
    ]


# --- what the self-service portal shows about connected services ----------------------


@dataclass(frozen=True)
class ServiceStatus:
    """One row of "connected services" on a user's portal home, in plain words.

    `state` is one of "ok", "pending" (the portal keeps polling while any row is
    pending), "error" or "blocked"; `message` is what the user reads, for example
    "Your Microsoft 365 password was updated 20 seconds ago."."""

    service: str
    account: str
    state: str
    message: str
    updated_at: datetime | None = None
    where: str = ""  # which instance of the service, e.g. the Microsoft 365 tenant
    state_label: str = ""  # the bridge's own word for the state, e.g. "Provisioned"

    def as_json(self) -> dict:
        return {
            "service": self.service,
            "account": self.account,
            "where": self.where,
            "state": self.state,
            "state_label": self.state_label,
            "message": self.message,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


ServiceStatusProvider = Callable[..., Iterable[ServiceStatus]]
PasswordRuleProvider = Callable[..., Iterable[dict]]

_service_status_providers: list[ServiceStatusProvider] = []
_password_rule_providers: list[PasswordRuleProvider] = []


def add_service_status_provider(provider: ServiceStatusProvider) -> ServiceStatusProvider:
    """Register `(user=) -> [ServiceStatus, ...]`: a bridge's rows for this user (none
    when the user is not bound to it). With no provider the portal shows no section."""
    if provider not in _service_status_providers:
        _service_status_providers.append(provider)
    return provider


def add_password_rule_provider(provider: PasswordRuleProvider) -> PasswordRuleProvider:
    """Register `(user=) -> [{"code", "label", "kind", ...}, ...]`: the rules a bridge
    enforces (through `add_password_check`) as data for the portal's live checklist.
    Kinds the browser evaluates: min_length/max_length (`value`), lowercase, uppercase,
    digit, symbol, min_classes (`value` of the four), not_contains (`values`); any
    other kind is listed and checked by the server on submit."""
    if provider not in _password_rule_providers:
        _password_rule_providers.append(provider)
    return provider


def service_statuses(*, user) -> list[ServiceStatus]:
    return [row for provider in _service_status_providers for row in provider(user=user)]


def extra_password_rules(*, user) -> list[dict]:
    return [rule for provider in _password_rule_providers for rule in provider(user=user)]


# --- what the console's users list shows of bridges ---------------------------------


@dataclass(frozen=True)
class UserListFlag:
    """A state a bridge shows on the console's users list: a badge `label` beside each
    user for whom `condition(organization=)` (a boolean query expression over users,
    such as `Exists(...)`) holds, and a filter `?service=<key>` keeping only them. The
    list computes it in its own query, so a page costs no extra query."""

    key: str
    label: str
    condition: Callable[..., object]


_user_list_flags: list[UserListFlag] = []


def add_user_list_flag(flag: UserListFlag) -> UserListFlag:
    if all(f.key != flag.key for f in _user_list_flags):
        _user_list_flags.append(flag)
    return flag


def user_list_flags() -> list[UserListFlag]:
    return list(_user_list_flags)
