"""SCIM writes. Each is one transaction that goes through the same directory services
as the console and the REST API (so events are recorded and Microsoft 365 is told),
plus the SCIM-only data (`externalId`, `manager`) and, when the organization chose it,
binding a new user to the Microsoft 365 tenant of their domain. Whatever fails, nothing
of the request is kept.

This app sits above both `directory` and `m365bridge`, so it may use both; `directory`
itself never imports `m365bridge`."""

from django.db import transaction

from directory import services as directory
from directory.errors import InvalidInput, NotAllowed
from directory.models import Group, User
from m365bridge import selectors as m365_selectors
from m365bridge import services as m365

from .authentication import ScimCaller
from .errors import ScimError
from .models import ScimGroup, ScimUser
from .resources import GroupChanges, UserChanges

PRIVILEGED = (User.ADMIN, User.OWNER)


def _refuse_privileged(user: User) -> None:
    """A SCIM feed manages the workforce, not the people who run Stratus: a leaked HR
    key must not be able to take over an admin's account."""
    if user.role in PRIVILEGED:
        raise NotAllowed(
            f"{user.email} is an admin of this organization; change admins in the console."
        )


def _manager(caller: ScimCaller, manager_id: str | None, *, user: User | None) -> User | None:
    if not manager_id:
        return None
    manager = (
        User.objects.for_organization(caller.organization).filter(pk=int(manager_id)).first()
        if manager_id.isdigit()
        else None
    )
    if manager is None or (user is not None and manager.pk == user.pk):
        raise ScimError(
            400, f"manager.value: {manager_id} is not another user of this service.", "invalidValue"
        )
    return manager


def _save_scim_user(caller: ScimCaller, user: User, changes: UserChanges) -> None:
    manager = _manager(caller, changes.manager_id, user=user)
    ScimUser.objects.update_or_create(
        user=user,
        defaults={
            "external_id": changes.external_id,
            "manager": manager,
            "extra": changes.kept,
        },
    )


def _set_active(caller: ScimCaller, user: User, active: bool) -> None:
    if active and user.status == User.SUSPENDED:
        directory.user_activate(actor=caller.actor, user=user)
    elif not active and user.status != User.SUSPENDED:
        directory.user_suspend(actor=caller.actor, user=user)


def _bind_to_domain_tenant(caller: ScimCaller, user: User) -> None:
    """Bind to the connected tenant that has the user's domain; with no such tenant the
    user simply stays unbound, as one created in the console would."""
    try:
        tenant = m365_selectors.tenant_for_email(organization=caller.organization, email=user.email)
    except InvalidInput as exc:
        if exc.code == "no_tenant_for_domain":
            return
        raise
    if tenant.is_active:
        m365.user_bind(actor=caller.actor, tenant=tenant, user=user)


@transaction.atomic
def scim_user_create(*, caller: ScimCaller, changes: UserChanges) -> User:
    """The password, if any, is set after the binding so the bridge keeps it to push."""
    user = directory.user_create(
        actor=caller.actor,
        organization=caller.organization,
        email=changes.email,
        send_activation=changes.password is None,
        **changes.profile,
    )
    _save_scim_user(caller, user, changes)
    if caller.organization.scim_bind_new_users:
        _bind_to_domain_tenant(caller, user)
    if changes.password is not None:
        directory.user_set_password(
            actor=caller.actor, user=user, password=changes.password, source="scim"
        )
    _set_active(caller, user, changes.active)
    return user


@transaction.atomic
def scim_user_apply(*, caller: ScimCaller, user: User, changes: UserChanges) -> User:
    """Make the user what the SCIM resource says (a PUT, or a PATCH once applied)."""
    _refuse_privileged(user)
    user = directory.user_update(
        actor=caller.actor, user=user, email=changes.email, **changes.profile
    )
    _save_scim_user(caller, user, changes)
    if changes.password is not None:
        directory.user_set_password(
            actor=caller.actor, user=user, password=changes.password, source="scim"
        )
    _set_active(caller, user, changes.active)
    return user


@transaction.atomic
def scim_user_delete(*, caller: ScimCaller, user: User) -> None:
    _refuse_privileged(user)
    directory.user_delete(actor=caller.actor, user=user)


def _members(caller: ScimCaller, member_ids: list[str]) -> list[User]:
    wanted = list(dict.fromkeys(member_ids))
    found = {
        str(u.pk): u
        for u in User.objects.for_organization(caller.organization).filter(
            pk__in=[int(i) for i in wanted if i.isdigit()]
        )
    }
    missing = [i for i in wanted if i not in found]
    if missing:
        raise ScimError(
            400,
            f"members: {', '.join(missing[:5])} are not users of this service "
            "(a group's members are users).",
            "invalidValue",
        )
    return [found[i] for i in wanted]


def _set_members(caller: ScimCaller, group: Group, members: list[User]) -> None:
    current = {u.pk: u for u in group.members.all()}
    wanted = {u.pk: u for u in members}
    for pk in current.keys() - wanted.keys():
        directory.group_member_remove(actor=caller.actor, group=group, user=current[pk])
    for pk in sorted(wanted.keys() - current.keys()):
        directory.group_member_add(actor=caller.actor, group=group, user=wanted[pk])


@transaction.atomic
def scim_group_create(*, caller: ScimCaller, changes: GroupChanges) -> Group:
    """With "bind new users" on, a new group is also synced to every connected tenant,
    as a security group of the members bound there (G1)."""
    members = _members(caller, changes.member_ids)
    group = directory.group_create(
        actor=caller.actor, organization=caller.organization, name=changes.name
    )
    ScimGroup.objects.create(group=group, external_id=changes.external_id)
    _set_members(caller, group, members)
    if caller.organization.scim_bind_new_users:
        for tenant in m365_selectors.tenant_list(
            organization=caller.organization, include_deauthorized=False
        ):
            m365.group_bind(actor=caller.actor, tenant=tenant, group=group)
    return group


@transaction.atomic
def scim_group_apply(*, caller: ScimCaller, group: Group, changes: GroupChanges) -> Group:
    members = _members(caller, changes.member_ids)
    group = directory.group_update(actor=caller.actor, group=group, name=changes.name)
    ScimGroup.objects.update_or_create(group=group, defaults={"external_id": changes.external_id})
    _set_members(caller, group, members)
    return group


@transaction.atomic
def scim_group_delete(*, caller: ScimCaller, group: Group) -> None:
    directory.group_delete(actor=caller.actor, group=group)
