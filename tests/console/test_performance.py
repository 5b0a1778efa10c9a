"""The users list costs the same number of queries at any size (bench/console_users.py
measures the time at 100,000 users)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from directory.console.paging import COUNT_LIMIT, paginate
from directory.models import User

from .conftest import make_users

# Pages that have a next page at both sizes, so each runs its full set of queries.
PAGES = [{}, {"q": "@acme"}, {"status": "active"}, {"status": "active", "role": "member"}]


def _queries(client, params) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("console:users"), params)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("params", PAGES)
def test_the_users_list_runs_the_same_queries_at_60_and_260_users(alice_client, acme, params):
    make_users(acme, 60, prefix="a")
    fewer = _queries(alice_client, params)
    make_users(acme, 200, prefix="b")
    assert _queries(alice_client, params) == fewer


@pytest.mark.parametrize("params", [*PAGES, {"q": "b000123"}])
def test_the_users_list_needs_at_most_five_queries_at_10_and_200_users(
    alice_client, acme, params, django_assert_max_num_queries
):
    make_users(acme, 10, prefix="a")
    with django_assert_max_num_queries(5):
        alice_client.get(reverse("console:users"), params)
    make_users(acme, 200, prefix="b")
    with django_assert_max_num_queries(5):
        alice_client.get(reverse("console:users"), params)


def test_a_page_past_the_end_costs_one_query_more_to_find_the_last_page(
    alice_client, acme, django_assert_max_num_queries
):
    make_users(acme, 10, prefix="a")
    with django_assert_max_num_queries(6):  # page 3 of 1: the last page is fetched again
        alice_client.get(reverse("console:users"), {"page": "3"})
    make_users(acme, 200, prefix="b")
    with django_assert_max_num_queries(5):  # page 3 of 5: in range
        alice_client.get(reverse("console:users"), {"page": "3"})


def test_the_last_page_knows_its_total_without_counting(acme, django_assert_num_queries):
    make_users(acme, 60)
    users = User.objects.for_organization(acme).order_by("email")
    with django_assert_num_queries(1):
        page = paginate(users, page=2)
    assert (page.total, page.start_index, page.end_index, page.has_next) == (61, 51, 61, False)


def test_the_count_stops_at_the_limit_and_next_still_works(acme, monkeypatch):
    monkeypatch.setattr("directory.console.paging.COUNT_LIMIT", 100)
    make_users(acme, 130)
    users = User.objects.for_organization(acme).order_by("email")
    page = paginate(users, page=2)
    assert (page.total, page.total_is_capped, page.num_pages) == (100, True, None)
    assert page.has_next and len(page) == 50
    last = paginate(users, page=3)
    assert not last.has_next and len(last) == 31


def test_the_count_is_exact_below_the_limit(acme):
    make_users(acme, 60)
    page = paginate(User.objects.for_organization(acme).order_by("email"), page=1)
    assert (page.total, page.total_is_capped, page.num_pages) == (61, False, 2)
    assert COUNT_LIMIT >= 10_000


def test_the_users_page_says_more_than_when_the_count_is_capped(alice_client, acme, monkeypatch):
    monkeypatch.setattr("directory.console.paging.COUNT_LIMIT", 100)
    make_users(acme, 130)
    response = alice_client.get(reverse("console:users"))
    assert "1–50 of more than 100" in response.content.decode()
    assert "Page 1</span>" in response.content.decode()


def test_a_page_number_that_is_not_a_number_shows_the_first_page(alice_client, bob):
    response = alice_client.get(reverse("console:users"), {"page": "x"})
    assert "bob@acme.example" in response.content.decode()
