from contextlib import contextmanager

import pytest
from django.db import DatabaseError, IntegrityError, connection

from audit.models import Event
from directory import hooks, services
from directory.errors import Conflict, InvalidInput, NotAllowed
from directory.models import Group, User
from tests.conftest import PASSWORD


def test_signup_creates_an_organization_with_an_active_owner(acme, alice):
    assert alice.organization == acme
    assert alice.role == User.OWNER
    assert alice.status == User.ACTIVE
    assert alice.check_password(PASSWORD)
    assert alice.password.startswith("argon2")


def test_email_is_unique_across_organizations_case_insensitively(alice, globex, charlie):
    with pytest.raises(Conflict) as raised:
        services.user_create(actor=charlie, organization=globex, email="ALICE@acme.example")
    assert raised.value.fields == {"email": ["An account with this email already exists."]}


def test_the_database_refuses_a_duplicate_email_in_another_case(alice):
    with pytest.raises(IntegrityError):
        User.objects.create(email="Alice@Acme.Example", organization=alice.organization)


def test_a_user_without_password_is_staged_until_one_is_set(acme, alice):
    user = services.user_create(actor=alice, organization=acme, email="new@acme.example")
    assert user.status == User.STAGED
    assert not user.has_usable_password()
    services.user_set_password(actor=alice, user=user, password=PASSWORD)
    user.refresh_from_db()
    assert user.status == User.ACTIVE
    assert user.password_changed_at is not None


def test_password_policy_names_every_broken_rule(acme, bob):
    with pytest.raises(InvalidInput) as raised:
        services.user_set_password(actor=bob, user=bob, password="short")
    problems = raised.value.fields["password"]
    assert "Must contain: at least 12 characters." in problems
    assert "Must contain: an uppercase letter." in problems
    assert "Must contain: a digit." in problems


def test_password_history_refuses_reuse(acme, alice, bob):
    services.user_set_password(actor=alice, user=bob, password="Another-Horse-43")
    with pytest.raises(InvalidInput) as raised:
        services.user_set_password(actor=alice, user=bob, password=PASSWORD)
    assert "Must not be one of your last 5 passwords." in raised.value.fields["password"]


def test_usage_location_must_be_an_iso_country_code(alice, bob):
    with pytest.raises(InvalidInput) as raised:
        services.user_update(actor=alice, user=bob, usage_location="Germany")
    assert "usage_location" in raised.value.fields
    services.user_update(actor=alice, user=bob, usage_location="de")
    bob.refresh_from_db()
    assert bob.usage_location == "DE"


@contextmanager
def events_refused(event_type: str):
    """PostgreSQL refuses to store events of this type, as a full disk or a lost
    connection would: a write whose event fails must leave nothing behind. The trigger
    is created inside the test's transaction, so it disappears with it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'event refused'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_event BEFORE INSERT ON audit_event FOR EACH ROW "
            f"WHEN (NEW.type = '{event_type}') EXECUTE FUNCTION refuse_event()"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER refuse_event ON audit_event")
            cursor.execute("DROP FUNCTION refuse_event()")


def test_every_write_records_its_event_in_the_same_transaction(alice, bob):
    services.user_update(actor=alice, user=bob, job_title="Engineer")
    event = Event.objects.filter(type="user_update").latest("id")
    assert event.actor == alice
    assert event.actor_label == "alice@acme.example"
    assert event.target_label == "bob@acme.example"
    assert event.details == {"changed": ["job_title"]}

    with events_refused("user_update"), pytest.raises(DatabaseError):
        services.user_update(actor=alice, user=bob, job_title="Architect")
    assert User.objects.get(pk=bob.pk).job_title == "Engineer"  # the change went with it


@pytest.mark.parametrize(
    ("event_type", "write", "unchanged"),
    [
        (
            "user_suspend",
            lambda alice, bob: services.user_suspend(actor=alice, user=bob),
            lambda bob: bob.status == User.ACTIVE,
        ),
        (
            "user_password_set",
            lambda alice, bob: services.user_set_password(
                actor=alice, user=bob, password="Brand-New-Pass-77"
            ),
            lambda bob: bob.check_password(PASSWORD) and not bob.password_history.exists(),
        ),
        (
            "group_create",
            lambda alice, bob: services.group_create(
                actor=alice, organization=alice.organization, name="Ops"
            ),
            lambda bob: not Group.objects.filter(name="Ops").exists(),
        ),
    ],
)
def test_a_write_whose_event_fails_is_rolled_back_whole(alice, bob, event_type, write, unchanged):
    before = Event.objects.count()
    with events_refused(event_type), pytest.raises(DatabaseError):
        write(alice, bob)
    assert unchanged(User.objects.get(pk=bob.pk))
    assert Event.objects.count() == before


def test_an_update_that_changes_nothing_records_nothing(alice, bob):
    before = Event.objects.count()
    services.user_update(actor=alice, user=bob, first_name="Bob")
    assert Event.objects.count() == before


def test_a_failed_write_leaves_no_event_and_no_change(alice, bob):
    before = Event.objects.count()
    with pytest.raises(InvalidInput):
        services.user_update(actor=alice, user=bob, job_title="x" * 200)
    assert Event.objects.count() == before


def test_changes_are_announced_to_subscribers_without_exposing_the_password(alice, bob):
    heard = []
    subscriber = hooks.subscribe(heard.append)
    try:
        services.user_set_password(actor=alice, user=bob, password="Brand-New-Pass-77")
        services.user_suspend(actor=alice, user=bob)
    finally:
        hooks._subscribers.remove(subscriber)
    assert [c.kind for c in heard] == [hooks.USER_PASSWORD_SET, hooks.USER_SUSPENDED]
    assert heard[0].password == "Brand-New-Pass-77"
    assert "Brand-New-Pass-77" not in repr(heard[0])


def test_suspend_and_reactivate(alice, bob):
    services.user_suspend(actor=alice, user=bob)
    assert User.objects.get(pk=bob.pk).status == User.SUSPENDED
    services.user_activate(actor=alice, user=bob)
    assert User.objects.get(pk=bob.pk).status == User.ACTIVE
    assert list(
        Event.objects.filter(target_id=str(bob.pk), type__in=["user_suspend", "user_activate"])
        .order_by("id")
        .values_list("type", "details")
    ) == [("user_suspend", {}), ("user_activate", {"status": User.ACTIVE})]


def test_reactivating_a_user_who_never_set_a_password_leaves_them_staged(acme, alice):
    staged = services.user_create(actor=alice, organization=acme, email="sam@acme.example")
    services.user_suspend(actor=alice, user=staged)
    services.user_activate(actor=alice, user=User.objects.get(pk=staged.pk))
    assert User.objects.get(pk=staged.pk).status == User.STAGED


def test_an_admin_cannot_suspend_or_delete_themselves(alice):
    with pytest.raises(NotAllowed):
        services.user_suspend(actor=alice, user=alice)
    with pytest.raises(NotAllowed):
        services.user_delete(actor=alice, user=alice)


def test_the_last_owner_cannot_be_demoted(acme, alice):
    ann = services.user_create(
        actor=alice, organization=acme, email="ann@acme.example", role=User.OWNER, password=PASSWORD
    )
    services.user_suspend(actor=alice, user=ann)  # still an owner, but not an active one
    ann = User.objects.get(pk=ann.pk)
    with pytest.raises(NotAllowed) as raised:
        services.user_update(actor=ann, user=alice, role=User.ADMIN)
    assert raised.value.message == "An organization must keep at least one active owner."
    assert User.objects.get(pk=alice.pk).role == User.OWNER
    assert not Event.objects.filter(type="user_update", target_id=str(alice.pk)).exists()

    services.user_activate(actor=alice, user=ann)  # with another active owner, it may
    services.user_update(actor=ann, user=alice, role=User.ADMIN)
    assert User.objects.get(pk=alice.pk).role == User.ADMIN


def test_the_last_active_owner_cannot_be_suspended(acme, alice):
    ann = services.user_create(
        actor=alice, organization=acme, email="ann@acme.example", role=User.ADMIN, password=PASSWORD
    )
    with pytest.raises(NotAllowed):
        services.user_suspend(actor=ann, user=alice)
    assert User.objects.get(pk=alice.pk).status == User.ACTIVE


def test_a_group_accepts_only_members_of_its_organization(alice, acme, bob, charlie):
    group = services.group_create(actor=alice, organization=acme, name="Engineering")
    assert services.group_member_add(actor=alice, group=group, user=bob)
    assert not services.group_member_add(actor=alice, group=group, user=bob)
    with pytest.raises(InvalidInput):
        services.group_member_add(actor=alice, group=group, user=charlie)


def test_group_names_are_unique_per_organization(alice, acme, charlie, globex):
    services.group_create(actor=alice, organization=acme, name="Sales")
    with pytest.raises(Conflict):
        services.group_create(actor=alice, organization=acme, name="sales")
    services.group_create(actor=charlie, organization=globex, name="Sales")


def test_api_keys_are_stored_hashed_and_shown_once(alice, acme):
    from directory import selectors

    key, secret = services.api_key_create(actor=alice, organization=acme, name="CI")
    assert secret not in key.key_hash
    assert selectors.api_key_find(secret=secret) == key
    services.api_key_revoke(actor=alice, key=key)
    assert selectors.api_key_find(secret=secret) is None


def test_production_hashes_passwords_with_argon2id_at_owasps_cost(settings):
    from django.contrib.auth.hashers import Argon2PasswordHasher, check_password, make_password

    settings.PASSWORD_HASHERS = ["directory.hashers.StratusArgon2PasswordHasher"]
    encoded = make_password(PASSWORD)
    assert encoded.startswith("argon2$argon2id$v=19$m=47104,t=1,p=1$")
    upgraded = []
    assert check_password(PASSWORD, encoded, setter=upgraded.append)
    assert upgraded == []  # a current hash is not redone at every sign-in
    # A hash made with Django's default cost still verifies, and is upgraded once.
    older = Argon2PasswordHasher().encode(PASSWORD, Argon2PasswordHasher().salt())
    assert check_password(PASSWORD, older, setter=upgraded.append)
    assert upgraded == [PASSWORD]
