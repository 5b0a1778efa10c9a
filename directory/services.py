"""Every write to the directory. Each function is atomic, takes the acting user as
`actor=`, validates its input, records its event in the same transaction and announces
the change to bridges (`directory.hooks`)."""

import ipaddress
import re
import secrets
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from audit.services import event_new, event_record, events_record

from . import emails, hooks, photos
from .addresses import email_canonical
from .errors import Conflict, InvalidInput, NotAllowed
from .models import ApiKey, Group, Membership, Organization, PasswordHistoryEntry, User
from .passwords import password_problems

EMAIL_TAKEN = "An account with this email already exists."

# Profile attributes an admin may set; these are what bridges sync.
PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "display_name",
    "job_title",
    "department",
    "employee_id",
    "company_name",
    "office_location",
    "mobile_phone",
    "business_phones",
    "street_address",
    "city",
    "state",
    "postal_code",
    "country",
    "usage_location",
)
POLICY_FIELDS = (
    "password_min_length",
    "password_require_lowercase",
    "password_require_uppercase",
    "password_require_digit",
    "password_require_symbol",
    "password_max_age_days",
    "password_history",
)
_USAGE_LOCATION = re.compile(r"^[A-Z]{2}$")


def _announce(kind: str, *, actor, user=None, group=None, **change) -> None:
    """Tell bridges what changed (`directory.hooks`), inside the caller's transaction."""
    subject = user if user is not None else group
    hooks.announce(
        hooks.DirectoryChange(
            kind=kind,
            organization_id=subject.organization_id,
            actor_id=getattr(actor, "pk", None),
            user_id=getattr(user, "pk", None),
            group_id=getattr(group, "pk", None),
            **change,
        )
    )


def _apply_changes(instance, changes: dict) -> list[str]:
    """Set and save the fields whose value differs; returns their names, sorted."""
    changed = sorted(key for key, value in changes.items() if getattr(instance, key) != value)
    for key in changed:
        setattr(instance, key, changes[key])
    if changed:
        instance.save(update_fields=changed)
    return changed


# --- organizations -------------------------------------------------------------------


@transaction.atomic
def organization_signup(
    *, name: str, email: str, password: str | None, first_name: str = "", last_name: str = ""
) -> tuple[Organization, User]:
    """Create an organization and its owner, who can then sign in to the console.
    Without a password the owner is staged and sent the activation email (self-service
    sign-up, `directory.signup`)."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput.for_field("name", "Enter the organization's name.")
    organization = Organization.objects.create(name=name, slug=_unique_slug(name))
    owner = user_create(
        actor=None,
        organization=organization,
        email=email,
        role=User.OWNER,
        first_name=first_name,
        last_name=last_name,
    )
    if password is not None:
        user_set_password(actor=owner, user=owner, password=password)
    event_record(
        organization=organization, type="organization_create", actor=owner, target=organization
    )
    return organization, owner


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def organization_update_policy(
    *, actor: User, organization: Organization, **policy
) -> Organization:
    unknown = set(policy) - set(POLICY_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown policy settings: {', '.join(sorted(unknown))}.")
    errors = {}
    minimum = policy.get("password_min_length", organization.password_min_length)
    if not isinstance(minimum, int) or not 8 <= minimum <= 256:
        errors["password_min_length"] = ["Must be a whole number from 8 to 256."]
    history = policy.get("password_history", organization.password_history)
    if not isinstance(history, int) or not 0 <= history <= 24:
        errors["password_history"] = ["Must be a whole number from 0 to 24."]
    max_age = policy.get("password_max_age_days", organization.password_max_age_days)
    if max_age is not None and (not isinstance(max_age, int) or not 1 <= max_age <= 3650):
        errors["password_max_age_days"] = ["Must be empty (never) or from 1 to 3650 days."]
    if errors:
        raise InvalidInput("The password policy is not valid.", fields=errors)
    changed = {k: v for k, v in policy.items() if getattr(organization, k) != v}
    for key, value in changed.items():
        setattr(organization, key, value)
    organization.save()
    event_record(
        organization=organization,
        type="organization_policy_update",
        actor=actor,
        target=organization,
        details={"changed": sorted(changed)},
    )
    return organization


@transaction.atomic
def organization_update_scim(
    *, actor: User, organization: Organization, bind_new_users: bool
) -> Organization:
    """Choose whether users created through SCIM are bound to their domain's tenant."""
    if not isinstance(bind_new_users, bool):
        raise InvalidInput.for_field("scim_bind_new_users", "Must be true or false.")
    if organization.scim_bind_new_users != bind_new_users:
        organization.scim_bind_new_users = bind_new_users
        organization.save(update_fields=["scim_bind_new_users"])
        event_record(
            organization=organization,
            type="organization_scim_update",
            actor=actor,
            target=organization,
            details={"scim_bind_new_users": bind_new_users},
        )
    return organization


# --- users ---------------------------------------------------------------------------


def _clean_email(email: str) -> str:
    email = email_canonical(email)  # one spelling per address: see directory/emails.py
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidInput.for_field("email", "Enter a valid email address.") from exc
    return email


def _ensure_email_free(email: str, *, exclude_pk=None) -> None:
    taken = User.objects.filter(email__iexact=email)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise Conflict(EMAIL_TAKEN, fields={"email": [EMAIL_TAKEN]}, code="email_taken")


def _clean_profile(attrs: dict[str, Any]) -> dict[str, Any]:
    unknown = set(attrs) - set(PROFILE_FIELDS)
    if unknown:
        raise InvalidInput(
            f"Unknown attributes: {', '.join(sorted(unknown))}.",
            fields={key: ["Unknown attribute."] for key in sorted(unknown)},
        )
    cleaned, errors = {}, {}
    for key, value in attrs.items():
        if key == "business_phones":
            value = _clean_phones(value, errors)
        else:
            value = "" if value is None else value
            if not isinstance(value, str):
                errors[key] = ["Must be text."]
                continue
            value = value.strip()
            limit = User._meta.get_field(key).max_length
            if len(value) > limit:
                errors[key] = [f"At most {limit} characters."]
            if key == "usage_location" and value:
                value = value.upper()
                if not _USAGE_LOCATION.match(value):
                    errors[key] = ["Must be a two-letter ISO 3166 country code, such as US or DE."]
        cleaned[key] = value
    if errors:
        raise InvalidInput("Some attributes are not valid.", fields=errors)
    return cleaned


def _clean_phones(value, errors) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors["business_phones"] = ["Must be a list of phone numbers."]
        return []
    value = [v.strip() for v in value if v.strip()]
    if len(value) > 1:
        errors["business_phones"] = ["At most one business phone number."]
    if any(len(v) > 64 for v in value):
        errors["business_phones"] = ["Each number has at most 64 characters."]
    return value


def _clean_role(role: str) -> str:
    if role not in dict(User.ROLES):
        raise InvalidInput.for_field("role", f"Must be one of: {', '.join(dict(User.ROLES))}.")
    return role


@transaction.atomic
def user_create(
    *,
    actor: User | None,
    organization: Organization,
    email: str,
    role: str = User.MEMBER,
    password: str | None = None,
    send_activation: bool = True,
    **attrs,
) -> User:
    """Add a user to the directory. Without a password they stay `staged` until they set
    one (activation): unless `send_activation` is False, a welcome email with an
    activation link goes out after commit (DESIGN P9)."""
    role = _clean_role(role)
    if actor is not None and role == User.OWNER and actor.role != User.OWNER:
        raise NotAllowed(
            "Only an owner can make another owner.",
            fields={"role": ["Only an owner can make another owner."]},
        )
    user = user_new(organization, email, role, attrs)
    _ensure_email_free(user.email)
    if password is not None:
        problems = password_problems(organization=organization, password=password)
        if problems:
            raise InvalidInput(
                "The password does not meet the policy.", fields={"password": problems}
            )
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # a concurrent create won the race
        raise Conflict(EMAIL_TAKEN, fields={"email": [EMAIL_TAKEN]}, code="email_taken") from exc
    event_record(
        organization=organization,
        type="user_create",
        actor=actor,
        target=user,
        details={"role": role},
    )
    _announce(hooks.USER_CREATED, actor=actor, user=user)
    if password is not None:
        user_set_password(actor=actor, user=user, password=password)
    elif send_activation:
        user_id, actor_id = user.pk, getattr(actor, "pk", None)
        transaction.on_commit(
            lambda: emails.activation_send_after_create(user_id=user_id, actor_id=actor_id)
        )
    return user


def user_new(organization: Organization, email: str, role: str, attrs: dict) -> User:
    """A staged user, not saved: its values cleaned (InvalidInput names the field). For
    `users_add`, which saves many at once."""
    email = _clean_email(email)
    profile = _clean_profile(attrs)
    if not profile.get("display_name"):
        profile["display_name"] = (
            f"{profile.get('first_name', '')} {profile.get('last_name', '')}".strip()
        )
    user = User(organization=organization, email=email, role=role, status=User.STAGED, **profile)
    user.set_unusable_password()
    return user


@transaction.atomic
def users_add(
    *, actor: User | None, organization: Organization, users: list[User], send_activation: bool
) -> list[User]:
    """Save many new users of `user_new` at once (an import): one insert, their
    `user_create` events in one more, each announced to bridges as `user_create` does,
    activation emails after commit if asked. The caller checked their emails are free;
    one taken meanwhile fails the whole call with IntegrityError, nothing written."""
    User.objects.bulk_create(users)
    events_record(
        [
            event_new(
                organization=organization,
                type="user_create",
                actor=actor,
                target=user,
                details={"role": user.role},
            )
            for user in users
        ]
    )
    actor_id = getattr(actor, "pk", None)
    for user in users:
        _announce(hooks.USER_CREATED, actor=actor, user=user)
        if send_activation:
            transaction.on_commit(
                lambda user_id=user.pk: emails.activation_send_after_create(
                    user_id=user_id, actor_id=actor_id
                )
            )
    return users


@transaction.atomic
def user_update(
    *, actor: User, user: User, email: str | None = None, role: str | None = None, **attrs
) -> User:
    """Change a user's email, role or profile; records which fields changed."""
    changes = _clean_profile(attrs)
    if email is not None:
        changes["email"] = _clean_email(email)
        if changes["email"] != user.email:
            _ensure_email_free(changes["email"], exclude_pk=user.pk)
    if role is not None and role != user.role:
        changes["role"] = _clean_role(role)
        _check_role_change(actor=actor, user=user, role=role)
    changed = _apply_changes(user, changes)
    if not changed:
        return user
    event_record(
        organization=user.organization,
        type="user_update",
        actor=actor,
        target=user,
        details={"changed": changed},
    )
    _announce(hooks.USER_UPDATED, actor=actor, user=user, changed_fields=frozenset(changed))
    return user


def _check_role_change(*, actor: User, user: User, role: str) -> None:
    if actor is not None and actor.pk == user.pk:
        raise NotAllowed(
            "You cannot change your own role.",
            fields={"role": ["You cannot change your own role."]},
        )
    if (role == User.OWNER or user.role == User.OWNER) and getattr(
        actor, "role", None
    ) != User.OWNER:
        raise NotAllowed(
            "Only an owner can grant or remove the owner role.",
            fields={"role": ["Only an owner can grant or remove the owner role."]},
        )
    if user.role == User.OWNER and role != User.OWNER:
        _ensure_another_owner(user)


def _ensure_another_owner(user: User) -> None:
    others = (
        User.objects.for_organization(user.organization)
        .filter(role=User.OWNER, status=User.ACTIVE)
        .exclude(pk=user.pk)
    )
    if not others.exists():
        raise NotAllowed("An organization must keep at least one active owner.")


def _refuse_self(actor: User | None, user: User, what: str) -> None:
    if actor is not None and actor.pk == user.pk:
        raise NotAllowed(f"You cannot {what} your own account.")


@transaction.atomic
def user_set_password(
    *,
    actor: User | None,
    user: User,
    password: str,
    source: str = "admin",
    must_change: bool = False,
) -> User:
    """Set a user's password after checking it against every rule that applies. A staged
    user becomes active. Bridges receive the plaintext to keep their encrypted copy.
    `source` says where it came from (admin, admin_temporary, portal, activation, reset);
    `must_change` makes the portal ask for a new one at the next sign-in. After commit
    the user is emailed that their password changed (not for their first one)."""
    if not isinstance(password, str) or not password:
        raise InvalidInput.for_field("password", "Enter a password.")
    problems = (
        password_problems(organization=user.organization, password=password, user=user)
        if user.organization_id
        else []
    )
    if problems:
        raise InvalidInput("The password does not meet the policy.", fields={"password": problems})
    had_password = user.has_usable_password()
    if had_password:
        PasswordHistoryEntry.objects.create(user=user, password_hash=user.password)
        _trim_history(user)
    user.set_password(password)
    user.password_changed_at = timezone.now()
    user.must_change_password = must_change
    user.password_expired_at = None
    fields = ["password", "password_changed_at", "must_change_password", "password_expired_at"]
    activated = user.status == User.STAGED
    if activated:
        user.status = User.ACTIVE
        fields.append("status")
    user.save(update_fields=fields)
    if user.organization_id is None:
        return user
    event_record(
        organization=user.organization,
        type="user_password_set",
        actor=actor,
        target=user,
        details={"source": source, "activated": activated, "must_change": must_change},
    )
    _announce(hooks.USER_PASSWORD_SET, actor=actor, user=user, password=password)
    if had_password:
        user_id = user.pk
        transaction.on_commit(
            lambda: emails.password_changed_notify(user_id=user_id, source=source)
        )
    return user


def _trim_history(user: User) -> None:
    keep = max(user.organization.password_history if user.organization_id else 0, 1)
    stale = user.password_history.values_list("pk", flat=True)[keep:]
    PasswordHistoryEntry.objects.filter(pk__in=list(stale)).delete()


@transaction.atomic
def user_suspend(*, actor: User, user: User) -> User:
    _refuse_self(actor, user, "suspend")
    if user.status == User.SUSPENDED:
        return user
    if user.role == User.OWNER:
        _ensure_another_owner(user)
    user.status = User.SUSPENDED
    user.save(update_fields=["status"])
    event_record(organization=user.organization, type="user_suspend", actor=actor, target=user)
    _announce(hooks.USER_SUSPENDED, actor=actor, user=user)
    return user


@transaction.atomic
def user_activate(*, actor: User, user: User) -> User:
    """Reactivate a suspended user. A staged user is activated by setting a password."""
    if user.status != User.SUSPENDED:
        return user
    user.status = User.ACTIVE if user.has_usable_password() else User.STAGED
    user.save(update_fields=["status"])
    event_record(
        organization=user.organization,
        type="user_activate",
        actor=actor,
        target=user,
        details={"status": user.status},
    )
    _announce(hooks.USER_ACTIVATED, actor=actor, user=user)
    return user


@transaction.atomic
def user_delete(*, actor: User, user: User) -> None:
    """Remove a user. Bridges hear of it first, while the user still exists, so they can
    block the remote accounts and drop their bindings."""
    _refuse_self(actor, user, "delete")
    if user.role == User.OWNER:
        _ensure_another_owner(user)
    organization = user.organization
    _announce(hooks.USER_DELETING, actor=actor, user=user)
    event_record(organization=organization, type="user_delete", actor=actor, target=user)
    photo = user.photo.name
    user.delete()
    if photo:  # its files go once the row is gone for good
        transaction.on_commit(lambda: photos.photo_files_delete(photo))


# --- groups --------------------------------------------------------------------------


def _clean_group(name: str | None, description: str | None) -> dict[str, str]:
    cleaned, errors = {}, {}
    if name is not None:
        name = name.strip()
        if not name:
            errors["name"] = ["Enter a name."]
        elif len(name) > 256:
            errors["name"] = ["At most 256 characters."]
        cleaned["name"] = name
    if description is not None:
        if len(description) > 1024:
            errors["description"] = ["At most 1024 characters."]
        cleaned["description"] = description.strip()
    if errors:
        raise InvalidInput("The group is not valid.", fields=errors)
    return cleaned


def _ensure_group_name_free(organization, name, exclude_pk=None) -> None:
    taken = Group.objects.for_organization(organization).filter(name__iexact=name)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        message = "A group with this name already exists."
        raise Conflict(message, fields={"name": [message]}, code="group_name_taken")


@transaction.atomic
def group_create(
    *, actor: User, organization: Organization, name: str, description: str = ""
) -> Group:
    cleaned = _clean_group(name, description)
    _ensure_group_name_free(organization, cleaned["name"])
    group = Group.objects.create(organization=organization, **cleaned)
    event_record(organization=organization, type="group_create", actor=actor, target=group)
    _announce(hooks.GROUP_CREATED, actor=actor, group=group)
    return group


@transaction.atomic
def group_update(
    *, actor: User, group: Group, name: str | None = None, description: str | None = None
) -> Group:
    cleaned = _clean_group(name, description)
    if "name" in cleaned:
        _ensure_group_name_free(group.organization, cleaned["name"], exclude_pk=group.pk)
    changed = _apply_changes(group, cleaned)
    if not changed:
        return group
    event_record(
        organization=group.organization,
        type="group_update",
        actor=actor,
        target=group,
        details={"changed": changed},
    )
    _announce(hooks.GROUP_UPDATED, actor=actor, group=group, changed_fields=frozenset(changed))
    return group


@transaction.atomic
def group_delete(*, actor: User, group: Group) -> None:
    _announce(hooks.GROUP_DELETING, actor=actor, group=group)
    event_record(organization=group.organization, type="group_delete", actor=actor, target=group)
    group.delete()


@transaction.atomic
def group_member_add(*, actor: User, group: Group, user: User) -> bool:
    """Add a member; returns False when they already were one."""
    if user.organization_id != group.organization_id:
        raise InvalidInput.for_field("user", "Only users of the same organization can be members.")
    _, created = Membership.objects.get_or_create(group=group, user=user)
    if created:
        _member_added(actor, group, user)
        _announce(hooks.GROUP_MEMBERS_CHANGED, actor=actor, group=group)
    return created


def _member_added(actor: User | None, group: Group, user: User) -> None:
    events_record([_member_added_event(actor, group, user)])


def _member_added_event(actor: User | None, group: Group, user: User):
    return event_new(
        organization=group.organization,
        type="group_member_add",
        actor=actor,
        target=group,
        details={"user_id": user.pk, "user_email": user.email},
    )


@transaction.atomic
def group_members_add(*, actor: User, group: Group, users: list[User]) -> int:
    """Add several members at once (an import): one insert, an event per new member
    as `group_member_add` writes (inserted together), and one announcement. Returns how
    many were added."""
    if any(u.organization_id != group.organization_id for u in users):
        raise InvalidInput.for_field("user", "Only users of the same organization can be members.")
    already = set(Membership.objects.filter(group=group).values_list("user_id", flat=True))
    new = list({u.pk: u for u in users if u.pk not in already}.values())
    if not new:
        return 0
    Membership.objects.bulk_create([Membership(group=group, user=u) for u in new])
    events_record([_member_added_event(actor, group, user) for user in new])
    _announce(hooks.GROUP_MEMBERS_CHANGED, actor=actor, group=group)
    return len(new)


@transaction.atomic
def group_member_remove(*, actor: User, group: Group, user: User) -> bool:
    deleted, _ = Membership.objects.filter(group=group, user=user).delete()
    if deleted:
        event_record(
            organization=group.organization,
            type="group_member_remove",
            actor=actor,
            target=group,
            details={"user_id": user.pk, "user_email": user.email},
        )
        _announce(hooks.GROUP_MEMBERS_CHANGED, actor=actor, group=group)
    return bool(deleted)


# --- API keys ------------------------------------------------------------------------


@transaction.atomic
def api_key_create(
    *,
    actor: User,
    organization: Organization,
    name: str,
    scope: str = ApiKey.SCOPE_API,
    read_only: bool = False,
    areas: list[str] | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is shown this once only. `scope`
    is what the key is for: the REST API, or SCIM provisioning only. A REST API key may
    be `read_only` and limited to `areas` (none given: every area); any key may expire
    at `expires_at`."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput.for_field("name", "Give the key a name.")
    if len(name) > 100:
        raise InvalidInput.for_field("name", "At most 100 characters.")
    if scope not in dict(ApiKey.SCOPES):
        raise InvalidInput.for_field("scope", "Must be one of: api, scim.")
    areas = _key_areas(scope=scope, read_only=read_only, areas=areas or [])
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput.for_field("expires_at", "The expiry must be in the future.")
    lookup = secrets.token_hex(8)
    secret = f"{ApiKey.PREFIX}{lookup}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        organization=organization,
        name=name,
        lookup=lookup,
        key_hash=ApiKey.hash_key(secret),
        created_by=actor,
        scopes=[scope],
        read_only=read_only,
        areas=areas,
        expires_at=expires_at,
    )
    event_record(
        organization=organization,
        type="api_key_create",
        actor=actor,
        target=key,
        details={
            "scopes": key.scopes,
            "read_only": read_only,
            "areas": areas,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return key, secret


def _key_areas(*, scope: str, read_only: bool, areas: list[str]) -> list[str]:
    """The areas checked, in the order `ApiKey.AREAS` lists them."""
    known = [area for area, _ in ApiKey.AREAS]
    unknown = sorted(set(areas) - set(known))
    if unknown:
        raise InvalidInput.for_field(
            "areas", f"Unknown area {unknown[0]!r}: use {', '.join(known)}."
        )
    if scope == ApiKey.SCOPE_SCIM and (read_only or areas):
        raise InvalidInput.for_field(
            "areas",
            "A SCIM key provisions users and groups; read-only and areas are for REST keys.",
        )
    return [area for area in known if area in areas]


@transaction.atomic
def api_key_revoke(*, actor: User, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        event_record(organization=key.organization, type="api_key_revoke", actor=actor, target=key)
    return key


def api_key_touch(*, key: ApiKey, address: str = "") -> None:
    """Note when and from which client address a key was last used: at most one UPDATE
    a minute per key, however many requests it makes."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        key.last_used_at, key.last_used_from = now, _ip_or_none(address)
        ApiKey.objects.filter(pk=key.pk).update(
            last_used_at=key.last_used_at, last_used_from=key.last_used_from
        )


def _ip_or_none(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
