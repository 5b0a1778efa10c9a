"""A page number past the end, however large, shows the last page instead of a 500."""

import pytest
from django.urls import reverse

from directory import services
from directory.console.paging import paginate
from directory.models import User

from .conftest import make_users

HUGE = "99999999999999999999"


@pytest.mark.parametrize("route", ["console:users", "console:groups", "console:events"])
def test_a_huge_page_number_shows_the_last_page(alice_client, engineers, route):
    response = alice_client.get(reverse(route), {"page": HUGE})
    assert response.status_code == 200
    assert response.context["page"].number == 1
    assert len(response.context["page"].items) >= 1


def test_a_page_past_the_end_of_the_users_shows_the_last_page(alice_client, acme):
    make_users(acme, 60)  # 61 users with alice: two pages
    response = alice_client.get(reverse("console:users"), {"page": "7"})
    page = response.context["page"]
    assert (page.number, len(page.items), page.has_next, page.total) == (2, 11, False, 61)
    assert "Page 2 of 2" in response.content.decode()


def test_a_huge_page_of_group_members_shows_the_last_page(alice_client, engineers, alice):
    services.group_member_add(actor=alice, group=engineers, user=alice)
    url = reverse("console:group_detail", args=[engineers.pk])
    response = alice_client.get(url, {"page": HUGE})
    assert response.status_code == 200
    assert len(response.context["page"].items) == 2


def test_an_empty_list_stays_on_page_one(acme):
    page = paginate(User.objects.for_organization(acme).filter(email="nobody@x"), page=HUGE)
    assert (page.number, page.items, page.total) == (1, [], 0)
