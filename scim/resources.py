"""Directory rows ↔ SCIM resources. `user_resource` / `group_resource` build the SCIM
view of a row (with its ETag); `user_changes` / `group_changes` read a validated SCIM
resource back into the directory's own terms, for `scim.services` to apply."""

import hashlib
import json
from dataclasses import dataclass, field

from scim2_models import Context, Meta

from directory.models import Group, User

from . import schemas

RESPONSE = Context.RESOURCE_QUERY_RESPONSE

# SCIM attribute → User field, for the simple attributes of both schemas.
USER_FIELDS = {"display_name": "display_name", "title": "job_title"}
ENTERPRISE_FIELDS = {
    "employee_number": "employee_id",
    "department": "department",
    "organization": "company_name",
}


def etag_of(payload: dict) -> str:
    """A weak ETag over the representation: it changes whenever any returned value does,
    whichever path (console, REST API, SCIM) changed it."""
    body = {k: v for k, v in payload.items() if k != "meta"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20]
    return f'W/"{digest}"'


def _finish(resource, *, resource_type: str, created, location: str):
    """Add `meta` (with the version) to a resource built from a row."""
    resource.meta = Meta(resource_type=resource_type, created=created, location=location)
    resource.meta.version = etag_of(resource.model_dump(scim_ctx=RESPONSE))
    return resource


def _scim_row(user: User):
    try:
        return user.scim
    except User.scim.RelatedObjectDoesNotExist:
        return None


def _present(values: dict) -> dict:
    return {key: value for key, value in values.items() if value not in (None, "", [], {})}


def user_resource(user: User, *, base_url: str):
    extra = _scim_row(user)
    manager = extra.manager if extra is not None and extra.manager_id else None
    enterprise = _present(
        {attr: getattr(user, name) for attr, name in ENTERPRISE_FIELDS.items()}
        | {
            "manager": {
                "value": str(manager.pk),
                "$ref": f"{base_url}/Users/{manager.pk}",
            }
            if manager is not None
            else None
        }
    )
    kept = extra.extra if extra is not None else {}
    enterprise = _present(enterprise | kept.get("enterprise", {}))
    name = {"givenName": user.first_name, "familyName": user.last_name} | kept.get("name", {})
    payload = _present(
        {
            "schemas": [schemas.USER_SCHEMA] + ([schemas.ENTERPRISE_SCHEMA] if enterprise else []),
            "id": str(user.pk),
            "externalId": extra.external_id if extra is not None else None,
            "userName": user.email,
            "name": _present(name),
            "displayName": user.display_name,
            "title": user.job_title,
            **{attr: kept.get(attr) for attr in schemas.KEPT_USER},
            schemas.ENTERPRISE_SCHEMA: enterprise,
        }
    )
    payload["active"] = user.status != User.SUSPENDED
    resource = schemas.user_model().model_validate(payload)
    return _finish(
        resource,
        resource_type="User",
        created=user.created_at,
        location=f"{base_url}/Users/{user.pk}",
    )


def group_resource(group: Group, *, base_url: str, members=None):
    members = members if members is not None else group.members.all().order_by("pk")
    try:
        external_id = group.scim.external_id
    except Group.scim.RelatedObjectDoesNotExist:
        external_id = None
    payload = _present(
        {
            "schemas": [schemas.GROUP_SCHEMA],
            "id": str(group.pk),
            "externalId": external_id,
            "displayName": group.name,
            "members": [
                {
                    "value": str(member.pk),
                    "$ref": f"{base_url}/Users/{member.pk}",
                    "type": "User",
                }
                for member in members
            ],
        }
    )
    resource = schemas.group_model().model_validate(payload)
    return _finish(
        resource,
        resource_type="Group",
        created=group.created_at,
        location=f"{base_url}/Groups/{group.pk}",
    )


@dataclass
class UserChanges:
    """A SCIM user in directory terms."""

    email: str
    profile: dict
    active: bool
    password: str | None
    external_id: str
    manager_id: str | None
    kept: dict = field(default_factory=dict)


def _kept(resource) -> dict:
    """The published attributes with no directory field, in SCIM's JSON."""
    dumped = resource.model_dump(scim_ctx=RESPONSE)
    name = dumped.get("name") or {}
    enterprise = dumped.get(schemas.ENTERPRISE_SCHEMA) or {}
    return _present(
        {
            **{attr: dumped.get(attr) for attr in schemas.KEPT_USER},
            "name": _present({key: name.get(key) for key in schemas.KEPT_NAME}),
            "enterprise": _present({key: enterprise.get(key) for key in schemas.KEPT_ENTERPRISE}),
        }
    )


def user_changes(resource) -> UserChanges:
    enterprise = resource[schemas.enterprise_model()]
    name = resource.name
    profile = {
        "first_name": (name.given_name if name else None) or "",
        "last_name": (name.family_name if name else None) or "",
        **{field_name: getattr(resource, attr) or "" for attr, field_name in USER_FIELDS.items()},
        **{
            field_name: (getattr(enterprise, attr) if enterprise else None) or ""
            for attr, field_name in ENTERPRISE_FIELDS.items()
        },
    }
    manager = enterprise.manager if enterprise else None
    return UserChanges(
        email=resource.user_name or "",
        profile=profile,
        active=resource.active is not False,
        password=resource.password,
        external_id=resource.external_id or "",
        manager_id=manager.value if manager else None,
        kept=_kept(resource),
    )


@dataclass
class GroupChanges:
    name: str
    external_id: str
    member_ids: list[str] = field(default_factory=list)


def group_changes(resource) -> GroupChanges:
    return GroupChanges(
        name=resource.display_name or "",
        external_id=resource.external_id or "",
        member_ids=[m.value for m in resource.members or [] if m.value is not None],
    )
