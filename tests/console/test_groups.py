from django.urls import reverse

from directory.models import Group

from .conftest import field_errors, table_text


def test_the_groups_page_lists_groups_with_member_counts(alice_client, engineers):
    response = alice_client.get(reverse("console:groups"))
    table = table_text(response)
    assert "Engineers" in table
    assert '<td class="num">1</td>' in table


def test_the_groups_list_searches_by_name(alice_client, acme, alice, engineers):
    from directory import services

    services.group_create(actor=alice, organization=acme, name="Sales")
    table = table_text(alice_client.get(reverse("console:groups"), {"q": "sal"}))
    assert "Sales" in table
    assert "Engineers" not in table


def test_the_groups_list_has_an_empty_state(alice_client):
    response = alice_client.get(reverse("console:groups"))
    assert b"No groups yet." in response.content


def test_a_group_is_created_and_its_name_must_be_unique(alice_client, engineers):
    response = alice_client.post(
        reverse("console:group_create"), {"name": "Design", "description": "Pixels"}, follow=True
    )
    assert b"The group Design was created." in response.content
    assert Group.objects.filter(name="Design", description="Pixels").exists()
    response = alice_client.post(reverse("console:group_create"), {"name": "engineers"})
    assert field_errors(response, "name") == ["A group with this name already exists."]


def test_a_group_is_edited(alice_client, engineers):
    url = reverse("console:group_edit", args=[engineers.pk])
    assert b'value="Engineers"' in alice_client.get(url).content
    alice_client.post(url, {"name": "Engineering", "description": ""})
    engineers.refresh_from_db()
    assert engineers.name == "Engineering"


def test_deleting_a_group_asks_first(alice_client, engineers):
    url = reverse("console:group_delete", args=[engineers.pk])
    assert b"Delete the group Engineers?" in alice_client.get(url).content
    assert Group.objects.filter(pk=engineers.pk).exists()
    response = alice_client.post(url, follow=True)
    assert b"The group Engineers was deleted." in response.content
    assert not Group.objects.filter(pk=engineers.pk).exists()


def test_the_group_page_lists_its_members(alice_client, engineers, bob):
    response = alice_client.get(reverse("console:group_detail", args=[engineers.pk]))
    assert "bob@acme.example" in table_text(response)


def test_a_member_is_added_by_email(alice_client, engineers, dave):
    url = reverse("console:group_member_add", args=[engineers.pk])
    response = alice_client.post(url, {"email": "DAVE@acme.example"}, follow=True)
    assert b"dave@acme.example was added to Engineers." in response.content
    assert engineers.members.filter(pk=dave.pk).exists()


def test_adding_an_unknown_email_says_so_next_to_the_field(alice_client, engineers):
    url = reverse("console:group_member_add", args=[engineers.pk])
    response = alice_client.post(url, {"email": "nobody@acme.example"})
    assert field_errors(response, "email") == ["No user of your organization has this email."]


def test_a_member_is_picked_from_those_not_yet_in_the_group(alice_client, engineers, dave, bob):
    url = reverse("console:group_member_add", args=[engineers.pk])
    table = table_text(alice_client.get(url))
    assert "dave@acme.example" in table
    assert "bob@acme.example" not in table
    response = alice_client.post(url, {"user": dave.pk}, follow=True)
    assert b"dave@acme.example was added to Engineers." in response.content
    assert engineers.members.filter(pk=dave.pk).exists()


def test_adding_an_existing_member_says_so(alice_client, engineers, bob):
    url = reverse("console:group_member_add", args=[engineers.pk])
    response = alice_client.post(url, {"user": bob.pk}, follow=True)
    assert b"bob@acme.example was already a member of Engineers." in response.content


def test_a_member_is_removed_after_confirmation(alice_client, engineers, bob):
    url = reverse("console:group_member_remove", args=[engineers.pk, bob.pk])
    assert b"Remove bob@acme.example from Engineers?" in alice_client.get(url).content
    assert engineers.members.filter(pk=bob.pk).exists()
    response = alice_client.post(url, follow=True)
    assert b"bob@acme.example was removed from Engineers." in response.content
    assert not engineers.members.filter(pk=bob.pk).exists()
