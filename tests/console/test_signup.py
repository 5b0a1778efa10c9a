"""Self-service sign-up: the same answer whether or not the email has an account, an
email to the address in both cases, and a limit per client address."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import Event
from directory import signup
from directory.lifecycle import token_redeem
from directory.models import AccountToken, Organization, SignInThrottle, User
from tests.portal.helpers import link_in

NEW_PASSWORD = "Bright-Meadow-2026"


def _sign_up(email, *, name="Initech", address="203.0.113.7", capture):
    browser = Client(REMOTE_ADDR=address)
    with capture(execute=True):
        response = browser.post(
            reverse("console:signup"),
            {"name": name, "first_name": "Peter", "last_name": "G", "email": email},
        )
    return browser, response


def _answer(browser, response, email) -> tuple:
    """What the person sees, with the address they typed taken out."""
    page = browser.get(response["Location"]).content.decode().replace(email, "EMAIL")
    page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)  # random per page
    return response.status_code, response["Location"], page


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def test_a_new_email_gets_a_staged_organization_and_the_activation_email(db, capture, mailoutbox):
    browser, response = _sign_up("peter@initech.example", capture=capture)
    assert response.status_code == 302 and response["Location"] == reverse("console:login")
    owner = User.objects.get(email="peter@initech.example")
    assert (owner.role, owner.status, owner.organization.name) == ("owner", "staged", "Initech")
    assert "_auth_user_id" not in browser.session  # signed in only once the mailbox is proven
    [welcome] = mailoutbox
    assert welcome.to == ["peter@initech.example"]
    assert "You signed up to Stratus and created your Initech account" in welcome.body


def test_the_owner_finishes_through_the_emailed_link(db, capture, mailoutbox):
    _sign_up("peter@initech.example", capture=capture)
    token = link_in(mailoutbox[0]).rstrip("/").rsplit("/", 1)[1]
    token_redeem(token=token, purpose=AccountToken.ACTIVATION, password=NEW_PASSWORD)
    browser = Client()
    answer = browser.post(
        reverse("console:login"), {"email": "peter@initech.example", "password": NEW_PASSWORD}
    )
    assert answer.status_code == 302 and answer["Location"] == reverse("console:dashboard")


def test_an_email_with_an_account_gets_the_same_answer_and_a_notice(alice, capture, mailoutbox):
    new = _answer(*_sign_up("peter@initech.example", capture=capture), "peter@initech.example")
    assert "Check your inbox: we sent EMAIL a link to finish." in new[2]
    mailoutbox.clear()
    browser, response = _sign_up("alice@acme.example", name="Other", capture=capture)
    assert _answer(browser, response, "alice@acme.example") == new
    assert not Organization.objects.filter(name="Other").exists()
    [notice] = mailoutbox
    assert notice.to == ["alice@acme.example"]
    assert notice.subject == "You already have a Stratus account"
    assert "/console/sign-in/" in notice.body and "/portal/forgot/" in notice.body
    event = Event.objects.get(type="signup_existing_email")
    assert event.organization == alice.organization and event.details["address"] == "203.0.113.7"


def test_the_other_spelling_of_an_existing_email_is_an_existing_email(
    acme, alice, capture, mailoutbox
):
    from directory import services

    services.user_create(actor=alice, organization=acme, email="idn@xn--bcher-kva.example")
    mailoutbox.clear()
    _sign_up("idn@bücher.example", name="Other", capture=capture)
    assert not Organization.objects.filter(name="Other").exists()
    assert [m.subject for m in mailoutbox] == ["You already have a Stratus account"]


def test_sign_ups_are_limited_per_client_address(db, capture, settings, mailoutbox):
    settings.SIGNUP_RATE_LIMIT = 2
    for n in range(2):
        _sign_up(f"p{n}@initech.example", name=f"Org {n}", capture=capture)
    _, refused = _sign_up("p2@initech.example", name="Org 2", capture=capture)
    assert refused.status_code == 429
    assert "Too many sign-ups from your network. Try again in 60 minutes." in (
        refused.content.decode()
    )
    assert not User.objects.filter(email="p2@initech.example").exists()
    assert len(mailoutbox) == 2
    _, elsewhere = _sign_up("p2@initech.example", address="198.51.100.9", capture=capture)
    assert elsewhere.status_code == 302


def test_existing_emails_count_against_the_limit_alike(alice, capture, settings):
    settings.SIGNUP_RATE_LIMIT = 1
    _sign_up("alice@acme.example", name="Other", capture=capture)
    _, refused = _sign_up("peter@initech.example", capture=capture)
    assert refused.status_code == 429


def test_the_limit_opens_again_after_its_window(db, capture, settings):
    settings.SIGNUP_RATE_LIMIT = 1
    _sign_up("p0@initech.example", name="Org 0", capture=capture)
    key = SignInThrottle.key_for(signup.SCOPE, "203.0.113.7")
    window = timedelta(seconds=settings.SIGNUP_RATE_WINDOW_SECONDS + 1)
    row = SignInThrottle.objects.get(key=key)
    SignInThrottle.objects.filter(key=key).update(last_failure_at=row.last_failure_at - window)
    _, again = _sign_up("p1@initech.example", name="Org 1", capture=capture)
    assert again.status_code == 302
    assert User.objects.filter(email="p1@initech.example").exists()


def test_a_bad_email_is_refused_alike_for_everyone(db, capture):
    _, response = _sign_up("not-an-email", capture=capture)
    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
