"""The attribute map: which Stratus user field becomes which Microsoft Graph property.

This table is the single source for creates, updates (only changed properties are
PATCHed) and drift checks; README.md shows the same table."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Attribute:
    graph: str  # Microsoft Graph property name
    stratus: str  # Stratus user field it comes from
    convert: Callable[[Any], Any]


def _text(value: str) -> str | None:
    # Graph refuses empty strings for most properties; null clears them.
    return value.strip() or None if isinstance(value, str) else value


def _phones(value: list[str]) -> list[str]:
    return [phone for phone in (value or []) if phone]


ATTRIBUTE_MAP: tuple[Attribute, ...] = (
    Attribute("userPrincipalName", "email", lambda email: email.lower()),
    Attribute("mail", "email", lambda email: email.lower()),
    Attribute("mailNickname", "email", lambda email: mail_nickname(email)),
    Attribute("displayName", "name", lambda name: name),
    Attribute("givenName", "first_name", _text),
    Attribute("surname", "last_name", _text),
    Attribute("jobTitle", "job_title", _text),
    Attribute("department", "department", _text),
    Attribute("employeeId", "employee_id", _text),
    Attribute("companyName", "company_name", _text),
    Attribute("officeLocation", "office_location", _text),
    Attribute("mobilePhone", "mobile_phone", _text),
    Attribute("businessPhones", "business_phones", _phones),
    Attribute("streetAddress", "street_address", _text),
    Attribute("city", "city", _text),
    Attribute("state", "state", _text),
    Attribute("postalCode", "postal_code", _text),
    Attribute("country", "country", _text),
    Attribute("usageLocation", "usage_location", _text),
)

SYNCED_GRAPH_PROPERTIES = tuple(a.graph for a in ATTRIBUTE_MAP)
# Stratus fields whose change must reach Microsoft ("name" is derived from these).
SYNCED_STRATUS_FIELDS = frozenset(
    {a.stratus for a in ATTRIBUTE_MAP} - {"name"} | {"display_name", "first_name", "last_name"}
)

_NICKNAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def mail_nickname(email: str) -> str:
    """The mail alias Microsoft requires: the address's local part, reduced to the
    characters Graph accepts, at most 64 of them."""
    local = email.split("@", 1)[0]
    nickname = _NICKNAME_UNSAFE.sub("", local).strip(".")[:64]
    return nickname or "user"


def desired_properties(user) -> dict[str, Any]:
    """What Microsoft should hold for this user, as Graph properties."""
    return {a.graph: a.convert(getattr(user, a.stratus)) for a in ATTRIBUTE_MAP}


def changed_properties(desired: dict[str, Any], known: dict[str, Any]) -> dict[str, Any]:
    """The properties to PATCH: those whose desired value differs from the last known one."""
    return {key: value for key, value in desired.items() if known.get(key) != value}


def stratus_values(account: dict[str, Any]) -> dict[str, Any]:
    """The Stratus profile fields a Microsoft account gives on import (I4): the same
    map read in the other direction. The email is chosen apart (mail, else the UPN),
    and Graph's null becomes Stratus's empty value."""
    values: dict[str, Any] = {}
    for attribute in ATTRIBUTE_MAP:
        if attribute.stratus == "email":
            continue
        field = "display_name" if attribute.stratus == "name" else attribute.stratus
        value = account.get(attribute.graph)
        if field == "business_phones":
            values[field] = [phone for phone in value or [] if phone]
        else:
            values[field] = "" if value is None else value
    return values


def known_properties_of(account: dict[str, Any]) -> dict[str, Any]:
    """What an imported binding records as last told to Microsoft: exactly what Microsoft
    holds, so the next reconcile finds no drift and the next sync sends nothing."""
    return {name: account.get(name) for name in SYNCED_GRAPH_PROPERTIES}
