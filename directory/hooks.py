"""The one place the directory announces its changes to bridges (Microsoft 365 today,
others later) without importing them.

Subscribers run synchronously inside the caller's transaction and must only record
intent (what the remote system must converge to); the work itself is queued after
commit. A `DirectoryChange` may carry a new password so a bridge can keep the
encrypted copy it needs to push; it is excluded from repr and must never be logged.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# Kinds of change.
USER_CREATED = "user_created"
USER_UPDATED = "user_updated"
USER_PASSWORD_SET = "user_password_set"
USER_SUSPENDED = "user_suspended"
USER_ACTIVATED = "user_activated"
USER_DELETING = "user_deleting"
GROUP_CREATED = "group_created"
GROUP_UPDATED = "group_updated"
GROUP_DELETING = "group_deleting"
GROUP_MEMBERS_CHANGED = "group_members_changed"


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
    return [problem for check in _password_checks for problem in check(user=user, password=password)]
