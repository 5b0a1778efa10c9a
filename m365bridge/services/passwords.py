"""The Stratus password always reaches Microsoft 365 (P3, P5): Stratus keeps a user's
password, encrypted (K1), whenever it has the plaintext in hand and the user has, or may
soon get, a binding.

- **Set while bound**: the binding keeps it (`subscribers`), and the sync pushes it.
- **Set while not bound yet**, for a user a connected tenant could take: kept as a
  `RetainedPassword` for `M365_PASSWORD_RETAIN_HOURS` (default 72); a bind within that
  window creates the account with it. The same when a user is unbound: the binding's
  password is kept, so a rebind pushes it again and a password changed in Microsoft
  after the rebind is overwritten (P5).
- **Held nowhere** (set long before the bind, or before Stratus kept passwords): the
  binding is *password pending* and the account gets a random password; the user's next
  portal sign-in, which has just checked the password against its hash, hands it to the
  binding and the sync pushes it.
Expired copies are deleted by the hourly `m365_retained_passwords_prune` task.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from directory import encryption
from directory.emails import email_queue
from directory.errors import ServiceError
from directory.models import User

from ..models import RetainedPassword, UserBinding
from ..passwords import microsoft_password_problems
from ..selectors import tenant_for_email
from ..sync.intent import binding_mark_dirty, sync_after_commit

SIGN_IN_REQUEST = "m365_sign_in_request"


def retain_window() -> timedelta:
    return timedelta(hours=settings.M365_PASSWORD_RETAIN_HOURS)


def password_retain(*, user: User, password_encrypted: str) -> RetainedPassword | None:
    """Keep a password no binding holds, for a bind or rebind within the window; only
    for a user a connected tenant could take (None otherwise)."""
    if not password_encrypted or user.organization_id is None:
        return None
    try:
        tenant_for_email(organization=user.organization, email=user.email)
    except ServiceError:
        RetainedPassword.objects.filter(user=user).delete()  # an older copy is stale now
        return None
    now = timezone.now()
    retained, _ = RetainedPassword.objects.update_or_create(
        user=user,
        defaults={
            "organization_id": user.organization_id,
            "password_encrypted": password_encrypted,
            "retained_at": now,
            "expires_at": now + retain_window(),
        },
    )
    return retained


def retained_passwords_take(*, users: list[User], tenant_name: str) -> dict[int, str]:
    """The retained passwords of these users that Microsoft would accept (user id →
    encrypted password), removed from the store: their bindings hold them now. A copy
    Microsoft would refuse is dropped; that user's binding is password pending."""
    keys = [u.pk for u in users]
    rows = RetainedPassword.objects.filter(user_id__in_array=keys, expires_at__gt=timezone.now())
    by_user = {u.pk: u for u in users}
    taken = {}
    for row in rows:
        user = by_user[row.user_id]
        problems = microsoft_password_problems(
            encryption.decrypt(row.password_encrypted),
            first_name=user.first_name,
            last_name=user.last_name,
            tenant_name=tenant_name,
        )
        if not problems:
            taken[row.user_id] = row.password_encrypted
    RetainedPassword.objects.filter(user_id__in_array=keys).delete()
    return taken


@transaction.atomic
def binding_password_capture(*, user: User, password: str) -> bool:
    """The user just signed in with `password` (checked against its hash): a bound
    binding that holds no password takes it, and the sync pushes it. True if it did."""
    if not password or user.pk is None:
        return False
    pending = UserBinding.objects.filter(user_id=user.pk, bound=True, password_encrypted="")
    tenant_id = pending.values_list("tenant_id", flat=True).first()
    if tenant_id is None:
        return False
    marked = binding_mark_dirty(
        bindings=pending,
        actor_id=user.pk,
        password_encrypted=encryption.encrypt(password),
        password_version=F("password_version") + 1,
        next_attempt_at=None,
    )
    if marked:
        sync_after_commit(tenant_id=tenant_id)
    return bool(marked)


def retained_passwords_prune(*, now=None) -> int:
    """Delete the copies whose window has passed. Returns how many."""
    deleted, _ = RetainedPassword.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


def password_pending_notify(*, actor: User | None, users: list[User]) -> int:
    """Email each of these users whose binding holds no password yet a link to sign in
    to the portal: that sign-in gives Microsoft 365 their Stratus password. Returns how
    many were queued."""
    portal = settings.BASE_URL.rstrip("/") + reverse("portal:home")
    pending = UserBinding.objects.filter(
        user__in=[u.pk for u in users], bound=True, password_encrypted=""
    ).select_related("user__organization", "tenant")
    queued = 0
    for binding in pending:
        user = binding.user
        if not user.has_usable_password() or user.status != User.ACTIVE:
            continue  # a staged user gets the activation email instead
        context = {"user": user, "tenant": binding.tenant, "portal_url": portal, "actor": actor}
        queued += bool(
            email_queue(
                organization=user.organization,
                to=user.email,
                user=user,
                kind=SIGN_IN_REQUEST,
                subject=f"Sign in once to set your Microsoft 365 password ({binding.tenant})",
                text=render_to_string("m365/emails/sign_in_request.txt", context),
            )
        )
    return queued
