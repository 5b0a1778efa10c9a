"""Reads of the directory. Every function takes the organization, so no query can reach
another organization's rows; a missing or foreign object is `Http404`."""

import hmac

from django.db.models import Q, QuerySet
from django.http import Http404

from .addresses import email_canonical
from .models import ApiKey, Group, Organization, SentEmail, User


def user_list(
    *, organization: Organization, search: str = "", status: str = "", role: str = ""
) -> QuerySet[User]:
    users = User.objects.for_organization(organization)
    if search:
        search = search.strip()
        users = users.filter(
            Q(email__icontains=search)
            | Q(display_name__icontains=search)
            | Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
        )
    if status:
        users = users.filter(status=status)
    if role:
        users = users.filter(role=role)
    return users.order_by("email")


def user_get(*, organization: Organization, pk) -> User:
    try:
        return User.objects.for_organization(organization).get(pk=int(pk))
    except (User.DoesNotExist, ValueError, TypeError):
        raise Http404("No such user.") from None


def user_by_email(*, organization: Organization, email: str) -> User | None:
    """The organization's user with this email (any case), or None."""
    return (
        User.objects.for_organization(organization)
        .filter(email__iexact=email_canonical(email))
        .first()
    )


def group_list(*, organization: Organization, search: str = "") -> QuerySet[Group]:
    groups = Group.objects.for_organization(organization)
    if search:
        groups = groups.filter(name__icontains=search.strip())
    return groups.order_by("name")


def group_get(*, organization: Organization, pk) -> Group:
    try:
        return Group.objects.for_organization(organization).get(pk=int(pk))
    except (Group.DoesNotExist, ValueError, TypeError):
        raise Http404("No such group.") from None


def group_members(*, group: Group) -> QuerySet[User]:
    return User.objects.filter(membership__group=group).order_by("email")


def api_key_list(*, organization: Organization) -> QuerySet[ApiKey]:
    return ApiKey.objects.for_organization(organization).select_related("created_by")


def api_key_get(*, organization: Organization, pk) -> ApiKey:
    try:
        return ApiKey.objects.for_organization(organization).get(pk=int(pk))
    except (ApiKey.DoesNotExist, ValueError, TypeError):
        raise Http404("No such API key.") from None


def api_key_find(*, secret: str) -> ApiKey | None:
    """The live key that `secret` is, or None. Compares hashes in constant time."""
    if not secret.startswith(ApiKey.PREFIX) or secret.count("_") < 2:
        return None
    lookup = secret[len(ApiKey.PREFIX) :].split("_", 1)[0]
    key = (
        ApiKey.objects.select_related("organization", "created_by")
        .filter(lookup=lookup, revoked_at__isnull=True)
        .first()
    )
    if key is None or not hmac.compare_digest(key.key_hash, ApiKey.hash_key(secret)):
        return None
    return key


def sent_email_list(*, organization: Organization, user: User, limit: int = 20):
    """The emails most recently sent to one user of this organization, newest first."""
    return SentEmail.objects.for_organization(organization).filter(user=user)[:limit]
