"""The account lifecycle as people live it, in a real browser (issue 7, DESIGN P3/P6/P9)."""

import pytest
from django.core import mail

from tests.conftest import PASSWORD

from .conftest import link_in, screenshot, wait_for_mail

pytestmark = pytest.mark.e2e

GOOD_PASSWORD = "Sunny-Harbour-2026"


def console_sign_in(page, base, email, password=PASSWORD):
    page.goto(f"{base}/console/sign-in/")
    page.fill("#id_email", email)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/console/")


def portal_sign_in(page, base, email, password):
    page.goto(f"{base}/portal/sign-in/")
    page.fill("#id_email", email)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")


def rule_state(page, code):
    return page.get_attribute(f'[data-password-checklist] li[data-rule="{code}"]', "class")


def test_an_admin_creates_a_user_who_activates_and_signs_in(site, alice, new_page):
    base = site.url

    # The admin adds Erin in the console; the welcome email goes out.
    admin = new_page()
    console_sign_in(admin, base, alice.email)
    admin.goto(f"{base}/console/users/new/")
    admin.fill("#id_email", "erin@acme.example")
    admin.fill("#id_first_name", "Erin")
    admin.fill("#id_last_name", "Ellis")
    admin.fill("#id_job_title", "Site engineer")
    admin.click("main form button[type=submit].button-primary")
    admin.wait_for_url("**/console/users/*/")
    screenshot(admin, "console-user-unbound")

    welcome = wait_for_mail("activate", "erin@acme.example")
    assert welcome.alternatives and welcome.alternatives[0][1] == "text/html"

    # Erin opens the link; the checklist refuses a weak password as she types it.
    erin = new_page()
    erin.goto(link_in(welcome))
    assert "Welcome, Erin Ellis" in erin.content()
    erin.fill("#id_new_password", "erin1")
    erin.fill("#id_confirm_password", "erin1")
    assert rule_state(erin, "min_length") == "bad"
    assert rule_state(erin, "uppercase") == "bad"
    assert rule_state(erin, "lowercase") == "ok"
    assert erin.is_disabled("main button[type=submit]")
    screenshot(erin, "portal-activate-weak-password-unbound")

    erin.fill("#id_new_password", GOOD_PASSWORD)
    erin.fill("#id_confirm_password", GOOD_PASSWORD)
    for code in ("min_length", "lowercase", "uppercase", "digit", "confirm"):
        assert rule_state(erin, code) == "ok", code
    assert erin.is_enabled("main button[type=submit]")
    erin.click("main button[type=submit]")

    # Activated: she signs in to the portal and sees her account.
    erin.wait_for_url("**/portal/sign-in/**")
    assert "Your password is set" in erin.content()
    erin.fill("#id_password", GOOD_PASSWORD)  # the email is filled in for her
    erin.click("main button[type=submit]")
    erin.wait_for_url(f"{base}/portal/")
    assert "Site engineer" in erin.content()
    screenshot(erin, "portal-home-unbound")

    # Microsoft 365: test_microsoft365.py runs this story with Erin bound to a graphsim
    # tenant and a real worker, watches the push finish here and signs her in at
    # Microsoft. Its screenshots are the README's; this unbound run saves "-unbound" ones.

    # Changing the password: the checklist ticks while she types.
    erin.goto(f"{base}/portal/password/")
    erin.fill("#id_current_password", GOOD_PASSWORD)
    erin.fill("#id_new_password", "Harbour-")
    assert rule_state(erin, "uppercase") == "ok"
    assert rule_state(erin, "digit") == "bad"
    screenshot(erin, "portal-password-change-unbound")
    erin.fill("#id_new_password", "Harbour-Lights-77")
    erin.fill("#id_confirm_password", "Harbour-Lights-77")
    erin.click("main button[type=submit]")
    erin.wait_for_url(f"{base}/portal/")
    assert "Your password was changed." in erin.content()
    changed = wait_for_mail("password was changed", "erin@acme.example")
    assert "Harbour-Lights-77" not in changed.body


def test_a_forgotten_password_is_reset_by_email_and_guessing_locks_the_account(
    site, bob, new_page, settings
):
    base = site.url
    settings.PORTAL_SIGN_IN_THROTTLE = {
        "account": {"free": 2, "lock_after": 3, "lock_seconds": 900}
    }
    page = new_page()

    # The same answer for a stranger's address as for Bob's.
    page.goto(f"{base}/portal/forgot/")
    page.fill("#id_email", "nobody@acme.example")
    page.click("main button[type=submit]")
    stranger_answer = page.inner_text("[data-forgot-sent]")
    page.goto(f"{base}/portal/sign-in/")
    page.click("text=Forgot your password?")
    page.fill("#id_email", bob.email)
    page.click("main button[type=submit]")
    assert page.inner_text("[data-forgot-sent]") == stranger_answer
    reset = wait_for_mail("reset", bob.email)
    assert len(mail.outbox) == 1

    page.goto(link_in(reset))
    page.fill("#id_new_password", GOOD_PASSWORD)
    page.fill("#id_confirm_password", GOOD_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/portal/sign-in/**")

    # The link worked once.
    page.goto(link_in(reset))
    assert "This link does not work" in page.content()

    # Guessing: the third wrong password locks the account, and the message says when.
    for _ in range(3):
        portal_sign_in(page, base, bob.email, "Wrong-Guess-000")
    assert "Try again in 15 minutes" in page.inner_text("[role=alert]")
    portal_sign_in(page, base, bob.email, GOOD_PASSWORD)
    assert "Try again in 15 minutes" in page.inner_text("[role=alert]")
    assert page.url.startswith(f"{base}/portal/sign-in/")


def test_the_home_page_follows_a_password_push_until_it_finishes(site, bob, new_page):
    """A stand-in bridge reports "being updated" twice, then "updated": the page polls
    services.json and shows the final state without a reload. (m365bridge registers the
    real provider; see directory.hooks.add_service_status_provider.)"""
    from directory import hooks

    answers = iter(["pending", "pending"])

    def provider(*, user):
        state = next(answers, "ok")
        message = (
            "Your Microsoft 365 password is being updated."
            if state == "pending"
            else "Your Microsoft 365 password was updated 2 seconds ago."
        )
        return [hooks.ServiceStatus("Microsoft 365", "bob@acme.onmicrosoft.com", state, message)]

    hooks.add_service_status_provider(provider)
    try:
        page = new_page()
        portal_sign_in(page, site.url, bob.email, PASSWORD)
        page.wait_for_url(f"{site.url}/portal/")
        assert "is being updated" in page.inner_text("[data-services]")
        page.wait_for_selector("[data-services] .state-ok", timeout=15_000)
        assert "was updated 2 seconds ago" in page.inner_text("[data-services]")
    finally:
        hooks._service_status_providers.remove(provider)
