"""A passkey in real Chromium: its virtual authenticator (CDP `WebAuthn.addVirtualAuthenticator`)
stands in for a laptop's fingerprint reader. An admin who must have a second factor
registers a passkey at enrolment, saves the recovery codes, signs out, signs in again with
the password and the passkey, then with the passkey alone, with no Content-Security-Policy
violation on the way."""

import pytest
from playwright.sync_api import expect

from directory.models import PasskeyDevice
from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e


def virtual_authenticator(page) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def password_sign_in(page, base, email):
    page.goto(f"{base}/console/sign-in/")
    page.fill("#id_email", email)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")


def test_an_admin_enrols_a_passkey_and_signs_in_with_it(site, new_page, acme, alice):
    acme.mfa_required_for_admins = True
    acme.save()
    base = site.url
    page = new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security" in m.text else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    virtual_authenticator(page)

    password_sign_in(page, base, alice.email)
    page.wait_for_url("**/portal/security/enrol/**")
    page.fill("#passkey_name", "Virtual key")
    page.click("button[data-passkey-start]")
    codes = page.locator("[data-testid=passkey-recovery-codes] li")
    expect(codes).to_have_count(10)
    page.click("[data-passkey-continue]")
    page.wait_for_url(f"{base}/console/")
    assert PasskeyDevice.objects.get(user=alice).name == "Virtual key"

    page.click("form[action$='/sign-out/'] button")
    password_sign_in(page, base, alice.email)
    page.wait_for_url("**/portal/security/verify/**")
    page.click("button[data-passkey-start]")
    page.wait_for_url(f"{base}/console/")
    expect(page.locator("h1")).to_be_visible()
    assert PasskeyDevice.objects.get(user=alice).last_used_at is not None

    # And with the passkey alone, no email or password typed.
    page.click("form[action$='/sign-out/'] button")
    page.goto(f"{base}/console/sign-in/")
    page.click("button[data-passkey-start]")
    page.wait_for_url(f"{base}/console/")
    assert problems == []
