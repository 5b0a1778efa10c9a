import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import URLPattern, reverse
from django.utils import timezone

from directory import emails, hooks, lifecycle, services
from directory.models import User
from directory.portal import urls as portal_urls
from directory.portal.views import SIGN_IN_FAILED
from tests.conftest import PASSWORD

from .helpers import link_in, reload

NEW_PASSWORD = "Brand-New-Secret-77"
HOME = reverse("portal:home")
SIGN_IN = reverse("portal:sign_in")
CHANGE = reverse("portal:password_change")


def sign_in(client, email, password=PASSWORD, **extra):
    return client.post(SIGN_IN, {"email": email, "password": password, **extra})


def errors_of(response) -> str:
    return response.content.decode()


# --- sign-in --------------------------------------------------------------------------


def test_a_member_signs_in_and_lands_on_their_home(client, bob):
    response = sign_in(client, "Bob@Acme.example")
    assert response.status_code == 302 and response.url == HOME
    page = client.get(HOME)
    assert page.status_code == 200
    assert "bob@acme.example" in page.content.decode()


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(client, bob):
    wrong = sign_in(client, bob.email, "nope")
    unknown = sign_in(Client(), "nobody@acme.example", "nope")
    assert SIGN_IN_FAILED in errors_of(wrong)
    assert wrong.status_code == unknown.status_code == 200
    strip = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"|value="[^"]*@acme.example"')
    assert strip.sub("", errors_of(wrong)) == strip.sub("", errors_of(unknown))


def test_the_password_is_never_echoed_back(client, bob):
    response = sign_in(client, bob.email, "Typed-Secret-123")
    assert "Typed-Secret-123" not in errors_of(response)


def test_sign_in_follows_a_local_next_but_never_another_site(client, bob):
    assert sign_in(client, bob.email, next="/portal/password/").url == "/portal/password/"
    for evil in ("https://evil.example/", "//evil.example/x", "https:/\\evil.example"):
        response = sign_in(Client(), bob.email, next=evil)
        assert response.url == HOME, evil


def test_after_repeated_failures_the_message_says_when_to_retry(client, bob, settings):
    settings.PORTAL_SIGN_IN_THROTTLE = {
        "account": {"free": 1, "lock_after": 2, "lock_seconds": 900}
    }
    sign_in(client, bob.email, "nope")
    locked = sign_in(client, bob.email, "nope")
    assert "Too many failed sign-ins. Try again in 15 minutes" in errors_of(locked)
    refused = sign_in(client, bob.email)
    assert "Try again in 15 minutes" in errors_of(refused)
    assert "_auth_user_id" not in client.session


def test_a_staged_or_suspended_user_cannot_sign_in(client, staged, bob, alice):
    services.user_suspend(actor=alice, user=bob)
    assert SIGN_IN_FAILED in errors_of(sign_in(client, bob.email))
    assert SIGN_IN_FAILED in errors_of(sign_in(client, staged.email, "Any-Guess-123"))


def test_sign_in_needs_the_csrf_token(bob):
    client = Client(enforce_csrf_checks=True)
    assert sign_in(client, bob.email).status_code == 403


def test_the_session_cookie_expires_and_is_http_only(client, bob, settings):
    response = sign_in(client, bob.email)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == settings.SESSION_COOKIE_AGE <= 12 * 3600
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def test_sign_out_ends_the_session(client, bob):
    client.force_login(bob)
    client.post(reverse("portal:sign_out"))
    assert client.get(HOME).status_code == 302


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.get(HOME)
    assert response.status_code == 302 and response.url.startswith(SIGN_IN)


def test_an_operator_without_an_organization_has_no_portal(client, db):
    operator = User.objects.create_superuser(email="op@stratus.example", password=PASSWORD)
    client.force_login(operator)
    assert client.get(HOME).status_code == 302


# --- home -----------------------------------------------------------------------------


def test_home_shows_the_profile_and_groups(client, bob, alice, acme):
    services.user_update(actor=alice, user=bob, job_title="Plumber", department="Ops")
    group = services.group_create(actor=alice, organization=acme, name="Engineering")
    services.group_member_add(actor=alice, group=group, user=bob)
    services.group_create(actor=alice, organization=acme, name="Board")
    client.force_login(bob)
    page = client.get(HOME).content.decode()
    assert "Plumber" in page and "Ops" in page and "Engineering" in page
    assert "Board" not in page


def test_without_a_bridge_home_says_nothing_about_connected_services(client, bob):
    client.force_login(bob)
    page = client.get(HOME).content.decode()
    assert "Connected services" not in page and "Microsoft" not in page
    assert client.get(reverse("portal:services_status")).json() == {"services": []}


def test_home_shows_what_a_bridge_reports_for_this_user(client, bob, status_provider):
    asked = []

    def provider(*, user):
        asked.append(user.pk)
        return [
            hooks.ServiceStatus(
                service="Microsoft 365",
                account="bob@acme.onmicrosoft.com",
                state="pending",
                message="Your Microsoft 365 password is being updated.",
            )
        ]

    status_provider(provider)
    client.force_login(bob)
    page = client.get(HOME).content.decode()
    assert "Connected services" in page and "is being updated" in page
    rows = client.get(reverse("portal:services_status")).json()["services"]
    assert rows[0]["state"] == "pending" and asked == [bob.pk, bob.pk]


def test_portal_pages_show_only_the_signed_in_users_own_data(
    client, bob, alice, charlie, status_provider
):
    status_provider(lambda *, user: [hooks.ServiceStatus("Svc", user.email, "ok", "fine")])
    client.force_login(bob)
    for other in (alice, charlie):
        for params in (
            {"user": other.pk},
            {"user_id": other.pk},
            {"pk": other.pk},
            {"email": other.email},
        ):
            page = client.get(HOME, params).content.decode()
            assert other.email not in page
            rows = client.get(reverse("portal:services_status"), params).json()["services"]
            assert [row["account"] for row in rows] == [bob.email]


def test_no_portal_address_takes_an_object_id(db):
    # `size` is a photo's display size (96, 240) of the signed-in user's own photo.
    for pattern in portal_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        assert set(pattern.pattern.converters) <= {"token", "size"}, pattern


# --- change password --------------------------------------------------------------------


def test_the_change_page_carries_the_policy_as_a_checklist(client, bob, acme):
    acme.password_require_symbol = True
    acme.save()
    client.force_login(bob)
    page = client.get(CHANGE).content.decode()
    rules = json.loads(
        re.search(r'id="password-rules" type="application/json">(.*?)</script>', page).group(1)
    )
    assert {
        "code": "min_length",
        "label": "At least 12 characters",
        "kind": "min_length",
        "value": 12,
    } in rules
    assert {r["code"] for r in rules} == {"min_length", "lowercase", "uppercase", "digit", "symbol"}
    assert 'data-rule="symbol"' in page


def test_a_bridges_rules_join_the_checklist(client, bob):
    def rules(*, user):
        return [
            {
                "code": "m365_classes",
                "label": "3 of 4 kinds of character",
                "kind": "min_classes",
                "value": 3,
            }
        ]

    hooks.add_password_rule_provider(rules)
    try:
        client.force_login(bob)
        assert "3 of 4 kinds of character" in client.get(CHANGE).content.decode()
    finally:
        hooks._password_rule_providers.remove(rules)


def test_the_server_checks_the_rules_again(client, bob):
    client.force_login(bob)
    response = client.post(
        CHANGE, {"current_password": PASSWORD, "new_password": "short", "confirm_password": "short"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Must contain: at least 12 characters." in page
    assert 'value="short"' not in page
    assert reload(bob).check_password(PASSWORD)


def test_a_wrong_current_password_is_refused(client, bob):
    client.force_login(bob)
    response = client.post(
        CHANGE,
        {
            "current_password": "nope",
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert lifecycle.WRONG_CURRENT in response.content.decode()


def test_the_two_entries_must_match(client, bob):
    client.force_login(bob)
    response = client.post(
        CHANGE,
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD + "x",
        },
    )
    assert "The two passwords are not the same." in response.content.decode()


def test_a_change_keeps_the_user_signed_in_and_emails_them(
    client, bob, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            CHANGE,
            {
                "current_password": PASSWORD,
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
            },
        )
    assert response.status_code == 302 and response.url == HOME
    assert "Your password was changed." in client.get(HOME).content.decode()
    assert reload(bob).check_password(NEW_PASSWORD)
    assert [m.subject for m in mailoutbox] == ["Your Acme password was changed"]


def test_a_temporary_password_lets_the_user_in_only_to_change_it(client, bob, alice):
    lifecycle.password_set_temporary(actor=alice, user=bob, password="Temporary-Pass-11")
    response = sign_in(client, bob.email, "Temporary-Pass-11")
    assert response.url == CHANGE
    assert client.get(HOME).url == CHANGE
    assert client.get(reverse("portal:services_status")).status_code == 302
    assert "temporary password" in client.get(CHANGE).content.decode()
    client.post(
        CHANGE,
        {
            "current_password": "Temporary-Pass-11",
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert client.get(HOME).status_code == 200


def test_an_expired_password_lets_the_user_in_only_to_change_it(client, bob, acme):
    acme.password_max_age_days = 30
    acme.save()
    User.objects.filter(pk=bob.pk).update(password_changed_at=timezone.now() - timedelta(days=31))
    assert sign_in(client, bob.email).url == CHANGE
    assert client.get(HOME).url == CHANGE
    assert "Your password has expired" in client.get(CHANGE).content.decode()
    response = client.post(
        CHANGE,
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert response.url == HOME
    assert client.get(HOME).status_code == 200


# --- forgot, reset, activate --------------------------------------------------------------


def test_forgot_password_answers_the_same_whether_or_not_the_email_exists(
    client, bob, mailoutbox, django_capture_on_commit_callbacks
):
    url = reverse("portal:forgot")
    with django_capture_on_commit_callbacks(execute=True):
        known = client.post(url, {"email": bob.email})
        unknown = client.post(url, {"email": "nobody@acme.example"})
    assert known.url == unknown.url == reverse("portal:forgot_sent")
    assert len(mailoutbox) == 1
    page = client.get(known.url).content.decode()
    assert "If that address belongs to an account" in page and "60 minutes" in page


def test_a_reset_link_leads_to_a_new_password_and_works_once(
    client, bob, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("portal:forgot"), {"email": bob.email})
    path = link_in(mailoutbox[0]).replace("http://127.0.0.1:8000", "")
    page = client.get(path)
    assert page.status_code == 200 and page["Referrer-Policy"] == "no-referrer"
    assert "password-rules" in page.content.decode()
    response = client.post(path, {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert response.status_code == 302 and response.url.startswith(SIGN_IN)
    assert reload(bob).check_password(NEW_PASSWORD)
    again = client.get(path)
    assert again.status_code == 404 and "not valid any more" in again.content.decode()


def test_activation_page_activates_the_staged_user(
    client, staged, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        emails.activation_send(actor=alice, user=staged)
    path = link_in(mailoutbox[0]).replace("http://127.0.0.1:8000", "")
    assert "Welcome, Dana Diaz" in client.get(path).content.decode()
    weak = client.post(path, {"new_password": "abc", "confirm_password": "abc"})
    assert "Must contain" in weak.content.decode() and reload(staged).status == User.STAGED
    client.post(path, {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert reload(staged).status == User.ACTIVE
    assert sign_in(client, staged.email, NEW_PASSWORD).url == HOME


def test_a_made_up_link_is_refused(client, db):
    response = client.get(reverse("portal:reset", kwargs={"token": "0123456789abcdef.nope"}))
    assert response.status_code == 404


# --- development mailbox ----------------------------------------------------------------


def test_the_development_mailbox_is_hidden_outside_debug(client, db, settings):
    settings.DEBUG = False
    assert client.get(reverse("portal:dev_mail")).status_code == 404


def test_the_development_mailbox_lists_what_the_file_backend_wrote(
    client, bob, alice, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.DEBUG = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        emails.password_reset_send(actor=alice, user=bob)
    page = client.get(reverse("portal:dev_mail")).content.decode()
    assert "Reset your Acme password" in page and "/portal/reset/" in page


@pytest.mark.parametrize("name", ["home", "password_change", "services_status"])
def test_signed_in_pages_are_not_cached(client, bob, name):
    client.force_login(bob)
    assert "no-cache" in client.get(reverse(f"portal:{name}"))["Cache-Control"]
