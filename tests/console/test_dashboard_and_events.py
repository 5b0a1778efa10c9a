from django.urls import reverse

from .conftest import table_text


def test_the_dashboard_counts_users_by_status_and_shows_recent_events(
    alice_client, bob, dave, engineers
):
    response = alice_client.get(reverse("console:dashboard"))
    assert response.status_code == 200
    assert response.context["user_total"] == 3
    assert [(v, c) for v, _, c in response.context["statuses"]] == [
        ("staged", 1),
        ("active", 2),
        ("suspended", 0),
    ]
    assert response.context["group_total"] == 1
    assert "group_member_add" in table_text(response)


def test_the_events_page_lists_newest_first(alice_client, bob, engineers):
    table = table_text(alice_client.get(reverse("console:events")))
    assert (
        table.index("group_member_add") < table.index("group_create") < table.index("user_create")
    )


def test_the_events_page_filters_by_type_and_outcome(alice_client, bob, engineers):
    table = table_text(alice_client.get(reverse("console:events"), {"type": "group_create"}))
    assert "group_create" in table
    assert "user_create" not in table
    response = alice_client.get(reverse("console:events"), {"outcome": "failure"})
    assert b"No events match these filters." in response.content


def test_the_events_page_shows_only_the_organizations_events(charlie_client, bob):
    table = table_text(charlie_client.get(reverse("console:events")))
    assert "bob@acme.example" not in table
    assert "charlie@globex.example" in table
