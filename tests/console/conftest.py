import pytest

from directory import services
from directory.models import User
from tests.conftest import PASSWORD


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def charlie_client(client, charlie):
    client.force_login(charlie)
    return client


@pytest.fixture
def dave(acme, alice):
    """A staged member of Acme, for actions on someone who is not the signed-in admin."""
    return services.user_create(
        actor=alice,
        organization=acme,
        email="dave@acme.example",
        first_name="Dave",
        last_name="Dunn",
    )


@pytest.fixture
def engineers(acme, alice, bob):
    group = services.group_create(
        actor=alice, organization=acme, name="Engineers", description="Everyone who ships code"
    )
    services.group_member_add(actor=alice, group=group, user=bob)
    return group


@pytest.fixture
def acme_key(acme, alice):
    key, _ = services.api_key_create(actor=alice, organization=acme, name="HR sync")
    return key


def make_users(organization, count, *, prefix="user"):
    """Many users at once, without the service's per-user work, for size tests."""
    User.objects.bulk_create(
        User(
            organization=organization,
            email=f"{prefix}{n:06d}@acme.example",
            display_name=f"User {n:06d}",
            status=User.ACTIVE,
            password="!",
        )
        for n in range(count)
    )


__all__ = ["PASSWORD", "make_users", "field_errors", "table_text"]


def field_errors(response, field: str) -> list[str]:
    """The error messages shown next to one form field."""
    import html
    import re

    block = re.search(rf'id="id_{field}_errors">(.*?)</div>', response.content.decode(), re.S)
    if not block:
        return []
    return [
        html.unescape(m) for m in re.findall(r'<p class="field-error">(.*?)</p>', block.group(1))
    ]


def table_text(response) -> str:
    """The page's tables only (not the navigation, which shows who is signed in)."""
    import re

    return "".join(re.findall(r"<table.*?</table>", response.content.decode(), re.S))
