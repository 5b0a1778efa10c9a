"""The fixed cast every test uses: alice owns Acme, bob is a member of Acme, charlie is
an admin of Globex (another organization, who must never see Acme's data)."""

import pytest

from directory import services
from directory.models import User

PASSWORD = "Correct-Horse-42"


@pytest.fixture(autouse=True)
def _quick_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["tests.hashers.QuickArgon2PasswordHasher"]


@pytest.fixture(autouse=True)
def _api_rate_limits_out_of_reach(settings):
    """Tests of other things make many requests from one address; the rate limits are
    proved in tests/api/test_rate_limits.py, which sets them low again."""
    settings.API_RATE_LIMIT_PER_KEY = settings.API_RATE_LIMIT_PER_ADDRESS = 10**9


@pytest.fixture(autouse=True)
def _emails_sent_inline(settings):
    """Emails leave from the committing process, so tests read them from the mailbox;
    tests/directory/test_email_delivery.py proves the worker path."""
    settings.EMAIL_DELIVERY = "inline"


def _password_only(organization):
    """The cast signs in with a password alone. New organizations require a second factor
    of their admins (directory.mfa); tests/directory/test_mfa.py and
    tests/console/test_mfa_policy.py turn the policy back on and sign in with codes."""
    organization.mfa_required_for_admins = False
    organization.save(update_fields=["mfa_required_for_admins"])
    return organization


@pytest.fixture
def acme(db):
    organization, _ = services.organization_signup(
        name="Acme",
        email="alice@acme.example",
        password=PASSWORD,
        first_name="Alice",
        last_name="Anders",
    )
    return _password_only(organization)


@pytest.fixture
def alice(acme):
    return User.objects.get(email="alice@acme.example")


@pytest.fixture
def bob(acme, alice):
    return services.user_create(
        actor=alice,
        organization=acme,
        email="bob@acme.example",
        role=User.MEMBER,
        password=PASSWORD,
        first_name="Bob",
        last_name="Brown",
    )


@pytest.fixture
def globex(db):
    organization, _ = services.organization_signup(
        name="Globex",
        email="gina@globex.example",
        password=PASSWORD,
    )
    return _password_only(organization)


@pytest.fixture
def charlie(globex):
    owner = User.objects.get(email="gina@globex.example")
    return services.user_create(
        actor=owner,
        organization=globex,
        email="charlie@globex.example",
        role=User.ADMIN,
        password=PASSWORD,
        first_name="Charlie",
        last_name="Chen",
    )
