"""Reads for the portal. Each takes the signed-in user and returns only their data."""

from directory import hooks, lifecycle
from directory.models import Group, User
from directory.passwords import policy_rules
from directory.services import PROFILE_FIELDS


def portal_profile(*, user: User) -> list[tuple[str, str]]:
    """The user's synced attributes that have a value, as (label, value)."""
    rows = []
    for name in PROFILE_FIELDS:
        value = getattr(user, name)
        if isinstance(value, list):
            value = ", ".join(value)
        if value:
            rows.append((User._meta.get_field(name).verbose_name.capitalize(), value))
    return rows


def portal_groups(*, user: User):
    return Group.objects.for_organization(user.organization).filter(members=user).order_by("name")


def portal_services(*, user: User) -> list[hooks.ServiceStatus]:
    return hooks.service_statuses(user=user)


def portal_password_rules(*, user: User) -> list[dict]:
    """The checklist the browser ticks while the user types: the organization's policy,
    then any rule of a service the user is bound to (Microsoft's, for example)."""
    rules = [rule.as_json() for rule in policy_rules(user.organization)]
    return rules + hooks.extra_password_rules(user=user)


def portal_password_expiry(*, user: User):
    return lifecycle.password_expires_at(user)
