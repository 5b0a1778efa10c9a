"""The organization's password policy, applied in one place by every path that sets a
password (console, API, portal, activation).

Rules are data (`PolicyRule`) so the portal can show the same list as a checklist
that ticks while the user types; bridges add their own rules (Microsoft's) through
`directory.hooks`.
"""

import string
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.hashers import check_password

from . import hooks
from .models import Organization, User


@dataclass(frozen=True)
class PolicyRule:
    code: str
    label: str
    check: Callable[[str], bool]
    # Parameters the browser needs to evaluate the same rule while the user types.
    client: dict

    def as_json(self) -> dict:
        return {"code": self.code, "label": self.label, **self.client}


def _has(chars: str) -> Callable[[str], bool]:
    return lambda password: any(c in chars for c in password)


def _has_symbol(password: str) -> bool:
    return any(not c.isalnum() and not c.isspace() for c in password)


def policy_rules(organization: Organization) -> list[PolicyRule]:
    """The rules of this organization's policy that can be checked on the text alone."""
    minimum = organization.password_min_length
    rules = [
        PolicyRule(
            "min_length",
            f"At least {minimum} characters",
            lambda p: len(p) >= minimum,
            {"kind": "min_length", "value": minimum},
        )
    ]
    classes = [
        (
            organization.password_require_lowercase,
            "lowercase",
            "A lowercase letter",
            _has(string.ascii_lowercase),
        ),
        (
            organization.password_require_uppercase,
            "uppercase",
            "An uppercase letter",
            _has(string.ascii_uppercase),
        ),
        (organization.password_require_digit, "digit", "A digit", _has(string.digits)),
        (organization.password_require_symbol, "symbol", "A symbol such as ! or #", _has_symbol),
    ]
    rules += [
        PolicyRule(code, label, check, {"kind": code})
        for wanted, code, label, check in classes
        if wanted
    ]
    return rules


def password_problems(
    *, organization: Organization, password: str, user: User | None = None
) -> list[str]:
    """Every rule the password breaks, in words a person can act on; empty means it passes."""
    problems = [rule.label for rule in policy_rules(organization) if not rule.check(password)]
    problems = [f"Must contain: {label[0].lower()}{label[1:]}." for label in problems]
    if user is not None and user.pk is not None:
        if _reuses_recent(organization=organization, user=user, password=password):
            problems.append(
                f"Must not be one of your last {organization.password_history} passwords."
            )
        for extra in hooks.password_checks(user=user, password=password):
            problems.append(extra)
    return problems


def _reuses_recent(*, organization: Organization, user: User, password: str) -> bool:
    depth = organization.password_history
    if depth == 0:
        return False
    if user.has_usable_password() and user.check_password(password):
        return True
    previous = user.password_history.values_list("password_hash", flat=True)[: max(depth - 1, 0)]
    return any(check_password(password, encoded) for encoded in previous)
