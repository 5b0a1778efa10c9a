"""Binding users to a tenant (provisioning, DESIGN P1-P4): checking each user against
the tenant that owns its email domain (C3), creating or re-selecting its binding,
unbinding it, retrying a binding now, and Microsoft's password rules for bound users.
The Microsoft 365 accounts themselves are written by workers (`sync`), after commit."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F

from directory.errors import Conflict, InvalidInput, ServiceError
from directory.json_insert import json_rows_insert
from directory.models import Organization, User

from ..events import tenant_event
from ..models import BindRun, Tenant, UserBinding
from ..passwords import microsoft_password_problems
from ..selectors import tenant_for_email
from ..sync.intent import binding_mark_dirty, bulk_marked, sync_after_commit
from ..sync.photos import photo_mark_dirty
from .passwords import password_retain, retained_passwords_take

BOUND_ELSEWHERE = (
    "{email} is already bound to the Microsoft 365 tenant {tenant}. A user is "
    "bound to at most one tenant; unbind it there first."
)
TENANT_NOT_CONNECTED = "This tenant is not connected; connect it again before binding users."


@dataclass
class BindResult:
    """What happened to one user of a bind request, in words an admin reads."""

    user_id: int
    email: str
    ok: bool
    code: str
    message: str
    binding: UserBinding | None = None


TenantResolver = Callable[[str], Tenant]


def _tenant_resolver(organization: Organization) -> TenantResolver:
    """`tenant_for_email` per email domain, asked once per domain (bulk binds)."""
    answers: dict[str, Tenant | ServiceError] = {}

    def resolve(email: str) -> Tenant:
        domain = email.rpartition("@")[2].lower()
        if domain not in answers:
            try:
                answers[domain] = tenant_for_email(organization=organization, email=email)
            except ServiceError as exc:
                answers[domain] = exc
        answer = answers[domain]
        if isinstance(answer, ServiceError):
            raise answer
        return answer

    return resolve


def _bind_check(
    user: User, tenant: Tenant, existing: UserBinding | None, resolve: TenantResolver
) -> BindResult:
    """C3 for one user: refused (ok False, code names why) or fine (ok True, code
    "bound", "rebound" or "already_bound", with the existing binding if any)."""
    result = BindResult(user_id=user.pk, email=user.email, ok=False, code="", message="")
    if existing is not None and existing.tenant_id != tenant.pk:
        result.code = "bound_elsewhere"
        result.message = BOUND_ELSEWHERE.format(email=user.email, tenant=existing.tenant)
        return result
    try:
        owner = resolve(user.email)
    except ServiceError as exc:
        result.code, result.message = exc.code, exc.message
        return result
    if owner.pk != tenant.pk:
        result.code = "other_tenant"
        result.message = (
            f"{user.email} belongs to the Microsoft 365 tenant {owner}, whose "
            "verified domains contain its domain; bind it there."
        )
        return result
    result.ok = True
    if existing is None:
        result.code, result.message = "bound", "Bound; the Microsoft 365 account is being created."
    elif not existing.bound:
        result.code, result.message = "rebound", "Bound again; sign-in is being unblocked."
    else:
        result.code, result.message = "already_bound", "Already bound to this tenant."
    result.binding = existing
    return result


@dataclass
class BindPlan:
    """The checked request: one result per user, the users to bind for the first time
    and the unbound bindings to select again."""

    results: list[BindResult] = field(default_factory=list)
    new: list[User] = field(default_factory=list)
    rebind: list[int] = field(default_factory=list)


def _bind_plan(tenant: Tenant, users: list[User]) -> BindPlan:
    organization = tenant.organization
    existing = {
        b.user_id: b
        for b in UserBinding.objects.for_organization(organization)
        .filter(user_id__in_array=[u.pk for u in users])
        .select_related("tenant")
    }
    resolve = _tenant_resolver(organization)
    plan, seen = BindPlan(), set()
    for user in users:
        if user.pk in seen:
            continue
        seen.add(user.pk)
        if user.organization_id != organization.pk:
            plan.results.append(
                BindResult(
                    user_id=user.pk, email="", ok=False, code="not_found", message="No such user."
                )
            )
            continue
        result = _bind_check(user, tenant, existing.get(user.pk), resolve)
        plan.results.append(result)
        if result.code == "bound":
            plan.new.append(user)
        elif result.code == "rebound":
            plan.rebind.append(result.binding.pk)
    return plan


def users_bind_check(*, tenant: Tenant, users: list[User]) -> BindPlan:
    """What a bind of these users would do, checked (C3), binding nobody (previews)."""
    return _bind_plan(tenant, users)


@transaction.atomic
def users_bind(*, actor: User | None, tenant: Tenant, users: list[User]) -> list[BindResult]:
    """Bind many users to a tenant (console bulk action, API). Each user is checked on
    its own (C3) and gets its own result; the accounts are created by workers, packed
    into `$batch` requests. One event records the bulk bind."""
    if not tenant.is_active:
        raise InvalidInput(TENANT_NOT_CONNECTED, code="tenant_not_connected")
    plan = _bind_plan(tenant, users)
    if not plan.new and not plan.rebind:
        return plan.results
    run = BindRun.objects.create(
        organization=tenant.organization,
        tenant=tenant,
        actor=actor,
        total=len(plan.new) + len(plan.rebind),
    )
    actor_id = getattr(actor, "pk", None)
    _bindings_create(tenant, plan, run=run, actor_id=actor_id)
    if plan.rebind:
        _bindings_reselect(tenant, plan, run=run, actor_id=actor_id)
    _users_bind_event(tenant, actor, users=users, plan=plan, run=run)
    bulk_marked(UserBinding, len(plan.new) + len(plan.rebind))
    bound = {r.user_id for r in plan.results if r.ok}
    for user in users:  # their photos follow their accounts (sync.photos waits for them)
        if user.photo_sha256 and user.pk in bound:
            photo_mark_dirty(user_id=user.pk, actor_id=actor_id)
    sync_after_commit(tenant_id=tenant.pk)
    return plan.results


def _bindings_create(tenant: Tenant, plan: BindPlan, *, run: BindRun, actor_id) -> None:
    """The bindings of the users bound for the first time, in one statement, each with
    the password Stratus retained for it (so the account is created with the user's
    real password); their results get their new binding."""
    if not plan.new:
        return
    passwords = retained_passwords_take(users=plan.new, tenant_name=tenant.display_name)
    template = UserBinding(
        organization=tenant.organization, tenant=tenant, bind_run=run, intent_actor_id=actor_id
    )
    rows = [
        {
            "user_id": user.pk,
            "user_ref": user.pk,
            "user_label": user.email,
            "password_encrypted": passwords.get(user.pk, ""),
            "password_version": 1 if user.pk in passwords else 0,
        }
        for user in plan.new
    ]
    if connection.vendor == "postgresql":
        created = bindings_insert_json(template, rows, users=plan.new)
    else:
        created = UserBinding.objects.bulk_create(
            [_binding_like(template, row, user) for row, user in zip(rows, plan.new, strict=True)]
        )
    by_user = {b.user_id: b for b in created}
    for result in plan.results:
        if result.code == "bound":
            result.binding = by_user[result.user_id]


def _binding_like(template: UserBinding, row: dict, user: User) -> UserBinding:
    """A new binding: `template`'s values (its tenant, run and actor) with `row`'s."""
    binding = copy.copy(template)
    for name, value in row.items():
        setattr(binding, UserBinding._meta.get_field(name).attname, value)
    binding.user = user
    return binding


def bindings_insert_json(template: UserBinding, rows: list[dict], *, users: list[User]) -> list:
    """Insert one binding per row on PostgreSQL: `template`'s values (the same for every
    row) with each row's own (`rows`' keys are field names), in one INSERT of a JSON
    document PostgreSQL unpacks (`directory.json_insert`): Django's `bulk_create` compiled
    and adapted each of the ~175,000 values of a 5,000-user bind in Python, most of the
    bind's cost. Returns the bindings, with their ids, in `users`' order."""
    meta = UserBinding._meta
    own = {meta.get_field(name) for name in rows[0]}
    fixed = {
        f.name: f.get_db_prep_save(f.pre_save(template, add=True), connection=connection)
        for f in meta.concrete_fields
        if not f.primary_key and f not in own
    }
    written = json_rows_insert(UserBinding, fixed=fixed, rows=rows, returning=("id", "user"))
    ids = {user_id: pk for pk, user_id in written}
    # The instances as loaded rows (`from_db`): copying the template per row was a third
    # of the bind's CPU.
    names = [f.attname for f in meta.concrete_fields]
    base = [getattr(template, name) for name in names]
    at = [names.index(meta.get_field(key).attname) for key in rows[0]]
    pk_at = names.index(meta.pk.attname)
    cached = [f for f in meta.concrete_fields if f.is_relation and f.is_cached(template)]
    user_field = meta.get_field("user")
    created = []
    for row, user in zip(rows, users, strict=True):
        values = base.copy()
        for index, value in zip(at, row.values(), strict=True):
            values[index] = value
        values[pk_at] = ids[user.pk]
        binding = UserBinding.from_db(connection.alias, names, values)
        for relation in cached:
            relation.set_cached_value(binding, relation.get_cached_value(template))
        user_field.set_cached_value(binding, user)
        created.append(binding)
    return created


def _bindings_reselect(tenant: Tenant, plan: BindPlan, *, run: BindRun, actor_id) -> None:
    """Bindings unbound earlier are selected again: sign-in is unblocked, and the password
    kept from the unbind (or set since) is pushed again, so a password changed directly
    in Microsoft after this rebind is overwritten (P5)."""
    rows = UserBinding.objects.filter(pk__in=plan.rebind).select_related("user")
    users = [row.user for row in rows if row.user is not None]
    passwords = retained_passwords_take(users=users, tenant_name=tenant.display_name)
    for row in rows:
        fields = {"bound": True, "bind_run": run, "next_attempt_at": None}
        if row.user_id in passwords:
            fields.update(
                password_encrypted=passwords[row.user_id],
                password_version=F("password_version") + 1,
            )
        binding_mark_dirty(
            bindings=UserBinding.objects.filter(pk=row.pk), actor_id=actor_id, **fields
        )


def _users_bind_event(
    tenant: Tenant, actor: User | None, *, users: list[User], plan: BindPlan, run: BindRun
) -> None:
    """One user bound: `m365_user_bind` about that user; else one `m365_users_bind`
    with the counts."""
    if len(users) == 1 and plan.results[0].ok:
        tenant_event(
            tenant=tenant,
            type="m365_user_bind",
            actor=actor,
            target=users[0],
            details={"rebound": bool(plan.rebind)},
        )
        return
    tenant_event(
        tenant=tenant,
        type="m365_users_bind",
        actor=actor,
        details={
            "bound": len(plan.new),
            "rebound": len(plan.rebind),
            "refused": sum(1 for r in plan.results if not r.ok),
            "run": run.pk,
        },
    )


def user_bind(*, actor: User | None, tenant: Tenant, user: User) -> UserBinding:
    """Bind one user; a refusal is raised with its reason (C3)."""
    result = users_bind(actor=actor, tenant=tenant, users=[user])[0]
    if not result.ok:
        raise Conflict(result.message, code=result.code)
    return result.binding


def users_bind_to_their_tenants(
    *, actor: User | None, organization: Organization, users: list[User]
) -> list[BindResult]:
    """The console's bulk "Bind to Microsoft 365": each user goes to the tenant that owns
    its email domain (C3); users no tenant owns get their reason. One `users_bind` per
    tenant, so each tenant's accounts are created in batches."""
    resolve = _tenant_resolver(organization)
    by_tenant: dict[int, tuple[Tenant, list[User]]] = {}
    results: list[BindResult] = []
    for user in users:
        try:
            tenant = resolve(user.email)
        except ServiceError as exc:
            results.append(
                BindResult(
                    user_id=user.pk, email=user.email, ok=False, code=exc.code, message=exc.message
                )
            )
            continue
        by_tenant.setdefault(tenant.pk, (tenant, []))[1].append(user)
    for tenant, members in by_tenant.values():
        results.extend(users_bind(actor=actor, tenant=tenant, users=members))
    return results


@transaction.atomic
def user_unbind(*, actor: User | None, user: User) -> UserBinding | None:
    """Unbind a user: a worker blocks sign-in to the Microsoft 365 account (it is never
    deleted), then forgets the binding. Its password is kept for the retention window
    (`passwords`), so binding the user again pushes it again."""
    binding = (
        UserBinding.objects.select_for_update().select_related("tenant").filter(user=user).first()
    )
    if binding is None or not binding.bound:
        return binding
    password_retain(user=user, password_encrypted=binding.password_encrypted)
    binding_mark_dirty(
        bindings=UserBinding.objects.filter(pk=binding.pk),
        actor_id=getattr(actor, "pk", None),
        bound=False,
        password_encrypted="",
        next_attempt_at=None,
    )
    tenant_event(tenant=binding.tenant, type="m365_user_unbind", actor=actor, target=user)
    sync_after_commit(tenant_id=binding.tenant_id)
    binding.refresh_from_db()
    return binding


@transaction.atomic
def binding_retry(*, actor: User | None, binding: UserBinding, resend: bool = False) -> UserBinding:
    """Try a binding again now (after an error, while waiting, or "sync now"). With
    `resend`, every synced attribute is sent again, overwriting changes made in
    Microsoft 365."""
    fields = {"next_attempt_at": None}
    if resend:
        fields["known_properties"] = {}
    binding_mark_dirty(
        bindings=UserBinding.objects.filter(pk=binding.pk),
        actor_id=getattr(actor, "pk", None),
        **fields,
    )
    sync_after_commit(tenant_id=binding.tenant_id)
    binding.refresh_from_db()
    return binding


@transaction.atomic
def bindings_retry_failed(*, actor: User | None, tenant: Tenant) -> int:
    """ "Retry all failed": every binding of the tenant in error or waiting, now."""
    failed = UserBinding.objects.filter(
        tenant=tenant, state__in=[UserBinding.ERROR, UserBinding.WAITING]
    )
    count = binding_mark_dirty(
        bindings=failed, actor_id=getattr(actor, "pk", None), next_attempt_at=None
    )
    if count:
        sync_after_commit(tenant_id=tenant.pk)
    return count


def binding_password_problems(*, user, password: str) -> list[str]:
    """Microsoft's password rules, for users bound to a tenant (registered with
    `directory.hooks.add_password_check`, so a password Microsoft would refuse is refused
    before it is saved, P3)."""
    if user is None or user.pk is None:
        return []
    binding = (
        UserBinding.objects.filter(user_id=user.pk, bound=True).select_related("tenant").first()
    )
    if binding is None or not binding.tenant.is_active:
        return []
    return microsoft_password_problems(
        password,
        first_name=user.first_name,
        last_name=user.last_name,
        tenant_name=binding.tenant.display_name,
    )
