"""An internationalized domain has one stored spelling, its ASCII (punycode) form, so
`idn@bücher.example` and `idn@xn--bcher-kva.example` are one account."""

import pytest
from django.test import Client
from django.urls import reverse

from directory import selectors, services
from directory.addresses import email_canonical
from directory.errors import Conflict
from directory.models import User
from tests.conftest import PASSWORD

UNICODE, ASCII = "idn@bücher.example", "idn@xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        (UNICODE, ASCII),
        ("IDN@BÜCHER.Example", ASCII),
        (ASCII, ASCII),
        (" Alice@Acme.Example ", "alice@acme.example"),
        ("idn@ｂüｃｈｅｒ.example", ASCII),  # fullwidth letters fold too (UTS #46)
    ],
)
def test_one_spelling_is_stored_for_each_address(typed, stored):
    assert email_canonical(typed) == stored


def test_a_user_created_with_a_unicode_domain_is_stored_in_ascii(acme, alice):
    user = services.user_create(actor=alice, organization=acme, email=UNICODE)
    assert user.email == ASCII


@pytest.mark.parametrize(("first", "second"), [(UNICODE, ASCII), (ASCII, UNICODE)])
def test_the_two_spellings_cannot_be_two_accounts(acme, alice, first, second):
    services.user_create(actor=alice, organization=acme, email=first)
    with pytest.raises(Conflict):
        services.user_create(actor=alice, organization=acme, email=second)
    assert User.objects.filter(email__contains="@").exclude(pk=alice.pk).count() == 1


def test_the_api_refuses_the_other_spelling_as_taken(acme, alice):
    from tests.api.helpers import key_client

    _, secret = services.api_key_create(actor=alice, organization=acme, name="k")
    api = key_client(secret)
    assert api.post("/api/v1/users", {"email": UNICODE}, format="json").status_code == 201
    again = api.post("/api/v1/users", {"email": ASCII}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "email_taken"


def test_either_spelling_finds_the_user_and_signs_in(acme, alice):
    user = services.user_create(
        actor=alice, organization=acme, email=ASCII, password=PASSWORD, role=User.ADMIN
    )
    assert selectors.user_by_email(organization=acme, email=UNICODE) == user
    browser = Client()
    response = browser.post(reverse("console:login"), {"email": UNICODE, "password": PASSWORD})
    assert response.status_code == 302
    assert int(browser.session["_auth_user_id"]) == user.pk


def _migrate_existing_emails():
    from importlib import import_module

    from django.apps import apps

    import_module("directory.migrations.0005_email_domains_in_ascii")._to_ascii(apps, None)


def test_the_migration_gives_existing_unicode_emails_their_ascii_spelling(acme):
    old = User.objects.create(organization=acme, email=UNICODE, password="!")
    _migrate_existing_emails()
    old.refresh_from_db()
    assert old.email == ASCII


def test_the_migration_leaves_an_address_whose_other_spelling_is_taken(acme):
    User.objects.create(organization=acme, email=ASCII, password="!")
    old = User.objects.create(organization=acme, email=UNICODE, password="!")
    _migrate_existing_emails()
    old.refresh_from_db()
    assert old.email == UNICODE
