import pytest
from django.urls import reverse

from audit.models import Event
from directory.models import User
from tests.conftest import PASSWORD

from .conftest import field_errors, table_text


def test_the_users_page_lists_the_organizations_users(alice_client, bob):
    response = alice_client.get(reverse("console:users"))
    assert response.status_code == 200
    assert b"bob@acme.example" in response.content
    assert b"1\xe2\x80\x932 of 2" in response.content  # "1–2 of 2"


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ({"q": "brown"}, "bob@acme.example", "alice@acme.example"),
        ({"q": "ALICE@"}, "alice@acme.example", "bob@acme.example"),
        ({"status": "staged"}, "dave@acme.example", "bob@acme.example"),
        ({"role": "owner"}, "alice@acme.example", "bob@acme.example"),
        ({"role": "member", "status": "active"}, "bob@acme.example", "dave@acme.example"),
    ],
)
def test_the_users_list_searches_and_filters(alice_client, bob, dave, query, shown, hidden):
    table = table_text(alice_client.get(reverse("console:users"), query))
    assert shown in table
    assert hidden not in table


def test_the_users_list_says_when_nothing_matches(alice_client):
    response = alice_client.get(reverse("console:users"), {"q": "nobody-like-this"})
    assert b"No users match your search." in response.content


def test_the_users_list_pages_by_fifty_and_keeps_the_filters(alice_client, acme):
    from .conftest import make_users

    make_users(acme, 120)
    first = alice_client.get(reverse("console:users"), {"status": "active"})
    assert first.content.count(b'href="/console/users/') >= 50
    assert b"1\xe2\x80\x9350 of 121" in first.content
    assert b"?status=active&amp;page=2" in first.content
    third = alice_client.get(reverse("console:users"), {"status": "active", "page": 3})
    assert b"101\xe2\x80\x93121 of 121" in third.content
    assert b"user000119@acme.example" in third.content


def test_a_user_is_created_staged_with_their_profile(alice_client, acme):
    response = alice_client.post(
        reverse("console:user_create"),
        {
            "email": "erin@acme.example",
            "role": "member",
            "first_name": "Erin",
            "last_name": "Ellis",
            "job_title": "Engineer",
            "usage_location": "de",
            "business_phones": "+1 555 0100",
        },
        follow=True,
    )
    erin = User.objects.get(email="erin@acme.example")
    assert erin.organization == acme
    assert erin.status == User.STAGED
    assert erin.display_name == "Erin Ellis"
    assert erin.usage_location == "DE"
    assert erin.business_phones == ["+1 555 0100"]
    assert b"erin@acme.example was added." in response.content
    assert Event.objects.filter(type="user_create", target_id=str(erin.pk)).exists()


def test_creating_a_user_shows_field_errors_next_to_the_fields(alice_client, bob):
    response = alice_client.post(
        reverse("console:user_create"),
        {"email": "bob@acme.example", "role": "member", "usage_location": "Germany"},
    )
    assert response.status_code == 200
    assert field_errors(response, "usage_location") == [
        "Ensure this value has at most 2 characters (it has 7)."
    ]
    response = alice_client.post(
        reverse("console:user_create"),
        {"email": "carol@acme.example", "role": "member", "usage_location": "D1"},
    )
    assert field_errors(response, "usage_location") == [
        "Must be a two-letter ISO 3166 country code, such as US or DE."
    ]
    response = alice_client.post(
        reverse("console:user_create"), {"email": "BOB@acme.example", "role": "member"}
    )
    assert field_errors(response, "email") == ["An account with this email already exists."]
    assert not User.objects.filter(email="carol@acme.example").exists()


def test_an_admin_cannot_make_an_owner_and_is_told_so_at_the_role_field(client, acme, alice):
    from directory import services

    admin = services.user_create(
        actor=alice, organization=acme, email="ann@acme.example", role=User.ADMIN, password=PASSWORD
    )
    client.force_login(admin)
    response = client.post(
        reverse("console:user_create"), {"email": "new@acme.example", "role": "owner"}
    )
    assert field_errors(response, "role") == ["Only an owner can make another owner."]
    assert not User.objects.filter(email="new@acme.example").exists()


def test_editing_a_user_changes_their_profile_and_role(alice_client, bob):
    url = reverse("console:user_edit", args=[bob.pk])
    form = alice_client.get(url)
    assert b'value="bob@acme.example"' in form.content
    response = alice_client.post(
        url,
        {
            "email": "bob@acme.example",
            "role": "admin",
            "first_name": "Robert",
            "department": "Sales",
        },
        follow=True,
    )
    bob.refresh_from_db()
    assert (bob.role, bob.first_name, bob.department) == ("admin", "Robert", "Sales")
    assert b"bob@acme.example was saved." in response.content


def test_the_user_page_shows_profile_and_groups(alice_client, bob, engineers):
    response = alice_client.get(reverse("console:user_detail", args=[bob.pk]))
    assert response.status_code == 200
    assert b"Engineers" in response.content
    assert b"Bob Brown" in response.content


def test_suspend_asks_first_then_suspends_and_reactivate_undoes_it(alice_client, bob):
    url = reverse("console:user_suspend", args=[bob.pk])
    confirm = alice_client.get(url)
    assert b"Suspend bob@acme.example?" in confirm.content
    bob.refresh_from_db()
    assert bob.status == User.ACTIVE
    response = alice_client.post(url, follow=True)
    assert b"bob@acme.example is suspended." in response.content
    bob.refresh_from_db()
    assert bob.status == User.SUSPENDED
    response = alice_client.post(reverse("console:user_activate", args=[bob.pk]), follow=True)
    assert b"bob@acme.example is active again." in response.content
    bob.refresh_from_db()
    assert bob.status == User.ACTIVE


def test_a_refused_action_is_explained_in_a_flash_message(alice_client, alice):
    response = alice_client.post(reverse("console:user_suspend", args=[alice.pk]), follow=True)
    assert b"You cannot suspend your own account." in response.content
    alice.refresh_from_db()
    assert alice.status == User.ACTIVE


def test_delete_asks_first_then_deletes(alice_client, bob):
    url = reverse("console:user_delete", args=[bob.pk])
    assert b"Delete bob@acme.example?" in alice_client.get(url).content
    assert User.objects.filter(pk=bob.pk).exists()
    response = alice_client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == reverse("console:users")
    assert b"bob@acme.example was deleted." in response.content
    assert not User.objects.filter(pk=bob.pk).exists()


def test_setting_a_password_activates_a_staged_user(alice_client, dave):
    url = reverse("console:user_password", args=[dave.pk])
    page = alice_client.get(url)
    assert b"At least 12 characters" in page.content
    response = alice_client.post(url, {"password": PASSWORD, "confirm": PASSWORD}, follow=True)
    assert b"The password of dave@acme.example was set." in response.content
    dave.refresh_from_db()
    assert dave.status == User.ACTIVE
    assert dave.check_password(PASSWORD)


def test_setting_a_password_shows_every_policy_problem(alice_client, dave):
    response = alice_client.post(
        reverse("console:user_password", args=[dave.pk]), {"password": "short", "confirm": "short"}
    )
    assert field_errors(response, "password") == [
        "Must contain: at least 12 characters.",
        "Must contain: an uppercase letter.",
        "Must contain: a digit.",
    ]
    dave.refresh_from_db()
    assert dave.status == User.STAGED


def test_setting_a_password_refuses_two_different_entries(alice_client, dave):
    response = alice_client.post(
        reverse("console:user_password", args=[dave.pk]),
        {"password": PASSWORD, "confirm": PASSWORD + "x"},
    )
    assert field_errors(response, "confirm") == ["The two passwords differ."]
    dave.refresh_from_db()
    assert dave.status == User.STAGED
