"""The account lifecycle with Microsoft 365 in the loop, every part real (issue 7, DESIGN
P1-P3, P9): graphsim as Microsoft over HTTPS, a Celery worker process running the
provisioning engine against it, the live server, and Chromium for both Stratus's pages
and Microsoft's sign-in page.

Chromium trusts graphsim's CA through an NSS database in a private HOME (`nss.py`);
certificate errors are not ignored, so graphsim's sign-in page loads over verified TLS.
"""

import base64
import json
import os
import tempfile
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.db import connection
from playwright.sync_api import Error as PlaywrightError

from m365bridge.models import UserBinding
from tests.m365bridge.conftest import REDIRECT_URI
from tests.support.broker import celery_broker
from tests.support.processes import ProcessSet, database_url, stratus_env, wait_for
from tests.support.tenants import connect_graphsim_tenant, register_stratus_app

from .conftest import CHROMIUM, CHROMIUM_ARGS, link_in, screenshot, wait_for_mail
from .nss import home_trusting_ca
from .test_portal import console_sign_in, rule_state

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DOMAIN = "acme.example"
EMAIL = f"erin@{DOMAIN}"
GOOD_PASSWORD = "Sunny-Harbour-2026"
# Every Graph call takes this long once Erin activates, so the push is still on its way
# when her home page opens (~0.7 s after she sets the password) and can be watched.
GRAPH_LATENCY_MS = 4000


@pytest.fixture(scope="module")
def graphsim():
    from graphsim.testing import running_graphsim

    with running_graphsim() as sim:
        yield sim


@pytest.fixture
def microsoft_page(browser, graphsim):
    """A page in a Chromium whose NSS database trusts graphsim's CA, with certificate
    checking on: the user's own browser going to Microsoft."""
    with tempfile.TemporaryDirectory(prefix="stratus-chromium-home-") as home:
        home_trusting_ca(home, graphsim.ca_path)
        trusting = browser.browser_type.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, env={**os.environ, "HOME": home}
        )
        try:
            context = trusting.new_context(
                ignore_https_errors=False, viewport={"width": 1100, "height": 760}
            )
            context.set_default_timeout(10_000)
            yield context.new_page()
        finally:
            trusting.close()


@pytest.fixture
def stratus(site, settings, graphsim, acme, alice):
    """The live server and one Celery worker on a private Redis and the test database,
    Microsoft at graphsim, and Acme connected (application mode) to a graphsim tenant
    whose verified domain is acme.example."""
    app = register_stratus_app(graphsim)
    settings.M365_CLIENT_ID = app["clientId"]
    settings.M365_CLIENT_SECRET = app["secret"]
    settings.M365_LOGIN_URL = graphsim.base_url
    settings.M365_GRAPH_URL = graphsim.base_url
    settings.M365_CA_BUNDLE = graphsim.ca_path
    with ProcessSet() as procs:
        redis = procs.redis()
        settings.REDIS_URL = redis.url()
        settings.CELERY_BROKER_URL = redis.url()
        env = stratus_env(
            database_url=database_url(connection.settings_dict),
            redis_url=redis.url(),
            sim=graphsim,
            app=app,
            encryption_keys=settings.FIELD_ENCRYPTION_KEYS,
        )
        worker = procs.worker(env, wait=False)  # starts while the tenant is connected
        with celery_broker(redis.url()):
            connected = connect_graphsim_tenant(
                sim=graphsim,
                app=app,
                organization=acme,
                actor=alice,
                domain=DOMAIN,
                display_name="Acme",
            )
            wait_for(
                lambda: worker.ready() or not worker.alive,
                timeout=60,
                what="the Celery worker",
                describe=worker.log_tail,
            )
            assert worker.alive, worker.log_tail()
            yield {
                "site": site,
                "sim": graphsim,
                "app": app,
                "procs": procs,
                "tid": connected.microsoft_id,
                "tenant": connected.tenant,
            }


def authorize_url(stratus) -> str:
    query = urlencode(
        {
            "client_id": stratus["app"]["clientId"],
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "scope": "openid",
            "state": "x",
        }
    )
    return f"{stratus['sim'].base_url}/{stratus['tid']}/oauth2/v2.0/authorize?{query}"


def sign_in_at_microsoft(page, stratus, password) -> str | None:
    """Microsoft's sign-in page in the browser: returns the authorization code it sends
    back to Stratus, or None with the page showing Microsoft's error. (Stratus's
    registered redirect URI is on a host this machine does not have, so the code is read
    from Microsoft's redirect itself.)"""
    page.goto(authorize_url(stratus))
    assert page.url.startswith("https://127.0.0.1:"), page.url
    page.fill("[name=login]", EMAIL)
    page.fill("[name=passwd]", password)
    with page.expect_response(
        lambda r: r.request.method == "POST" and "/oauth2/v2.0/authorize" in r.url
    ) as answer:
        page.click("form [type=submit]")
    response = answer.value
    if response.status == 200:
        page.wait_for_selector("#error")
        return None
    assert response.status in (302, 303), response.status
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI), location
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["x"]
    return query["code"][0]


def binding() -> UserBinding:
    return UserBinding.objects.get(user__email=EMAIL)


def test_a_new_user_s_password_reaches_microsoft_365_and_signs_in_there(
    stratus, alice, new_page, microsoft_page
):
    base, sim, tid = stratus["site"].url, stratus["sim"], stratus["tid"]
    # The admin adds Erin in the console and binds her to the Acme tenant.
    admin = new_page()
    console_sign_in(admin, base, alice.email)
    admin.goto(f"{base}/console/users/new/")
    admin.fill("#id_email", EMAIL)
    admin.fill("#id_first_name", "Erin")
    admin.fill("#id_last_name", "Ellis")
    admin.fill("#id_job_title", "Site engineer")
    admin.click("main form button[type=submit].button-primary")
    admin.wait_for_url("**/console/users/*/")
    user_page = admin.url
    admin.click("#m365-binding >> text=Bind to Microsoft 365")
    assert "Acme" in admin.inner_text("#bind-dialog table")
    admin.click("#bind-dialog form button[type=submit]")
    admin.wait_for_url(user_page)
    assert "the Microsoft 365 account is being created" in admin.content()

    # The worker creates her account in Microsoft 365, with a password nobody knows yet.
    wait_for(
        lambda: binding().microsoft_id,
        timeout=20,
        what="the account in Microsoft 365",
        describe=stratus["procs"].logs,
    )
    account = sim.control.admin_get_user(tid, EMAIL)
    assert account["hasPassword"] and account["accountEnabled"]
    assert sign_in_at_microsoft(microsoft_page, stratus, GOOD_PASSWORD) is None
    assert microsoft_page.get_attribute("#error", "data-code") == "AADSTS50126"

    # Erin activates from the email; Microsoft's rules join the checklist since she is bound.
    welcome = wait_for_mail("activate", EMAIL)
    sim.control.set_faults(tid, latency_ms=GRAPH_LATENCY_MS)
    erin = new_page()
    erin.goto(link_in(welcome))
    erin.fill("#id_new_password", "erin1")
    erin.fill("#id_confirm_password", "erin1")
    assert rule_state(erin, "m365_classes") == "bad"
    assert erin.is_disabled("main button[type=submit]")
    screenshot(erin, "portal-activate-weak-password")
    erin.fill("#id_new_password", GOOD_PASSWORD)
    erin.fill("#id_confirm_password", GOOD_PASSWORD)
    assert rule_state(erin, "m365_classes") == "ok"
    erin.click("main button[type=submit]")
    erin.wait_for_url("**/portal/sign-in/**")
    erin.fill("#id_password", GOOD_PASSWORD)
    erin.click("main button[type=submit]")
    erin.wait_for_url(f"{base}/portal/")

    # The home page follows the push to Microsoft 365 until it is done, without a reload.
    services = erin.locator("[data-services]")
    assert "Microsoft 365" in services.inner_text()
    assert "Your Microsoft 365 password is being updated." in services.inner_text()
    erin.evaluate("window.notReloaded = true")
    erin.wait_for_selector("[data-services] .state-ok", timeout=20_000)
    assert "Your Microsoft 365 password was updated" in services.inner_text()
    assert erin.evaluate("window.notReloaded") is True
    screenshot(erin, "portal-home")
    sim.control.clear_faults(tid)

    # Microsoft 365 accepts the password on its own sign-in page, in Erin's browser (one
    # that trusts graphsim's CA: without it, Chromium refuses the page).
    with pytest.raises(PlaywrightError, match="ERR_CERT_AUTHORITY_INVALID"):
        new_page().goto(authorize_url(stratus))
    code = sign_in_at_microsoft(microsoft_page, stratus, GOOD_PASSWORD)
    assert code, microsoft_page.content()[:500]
    tokens = sim.session().post(
        f"{sim.base_url}/{tid}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": stratus["app"]["clientId"],
            "client_secret": stratus["app"]["secret"],
            "scope": "openid",
        },
        timeout=30,
    )
    assert tokens.status_code == 200, tokens.text
    id_token = tokens.json()["id_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(id_token + "=" * (-len(id_token) % 4)))
    assert claims["tid"] == tid
    assert EMAIL in (claims.get("preferred_username"), claims.get("upn"))

    # Microsoft 365 holds her account with the attributes from Stratus.
    account = sim.control.admin_get_user(tid, EMAIL)
    assert {
        key: account[key]
        for key in (
            "userPrincipalName",
            "displayName",
            "givenName",
            "surname",
            "jobTitle",
            "accountEnabled",
        )
    } == {
        "userPrincipalName": EMAIL,
        "displayName": "Erin Ellis",
        "givenName": "Erin",
        "surname": "Ellis",
        "jobTitle": "Site engineer",
        "accountEnabled": True,
    }
    assert account["id"] == binding().microsoft_id

    # The admin's view of Erin, and the change-password page with Microsoft's rules.
    admin.goto(user_page)
    assert "Never" not in admin.inner_text("#m365-binding")
    screenshot(admin, "console-user")
    erin.goto(f"{base}/portal/password/")
    erin.fill("#id_current_password", GOOD_PASSWORD)
    erin.fill("#id_new_password", "Harbour-")
    assert rule_state(erin, "digit") == "bad"
    assert rule_state(erin, "m365_classes") == "ok"
    screenshot(erin, "portal-password-change")
