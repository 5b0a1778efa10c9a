"""The held-blocks banner and the previews in a real browser (issue 14), against graphsim
over HTTPS; the sync runs in this process. Its screenshots are the README's."""

import shutil
from pathlib import Path

import pytest

from directory import services as directory_services
from m365bridge import services
from m365bridge.models import HeldBlock
from m365bridge.sync import intent, runner
from tests.support.tenants import connect_graphsim_tenant, register_stratus_app

from .conftest import SCREENSHOTS, screenshot
from .test_portal import console_sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DOMAIN = "acme.example"
README_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def graphsim():
    from graphsim.testing import running_graphsim

    with running_graphsim() as sim:
        yield sim


@pytest.fixture
def connected(site, settings, graphsim, acme, alice, monkeypatch):
    app = register_stratus_app(graphsim)
    settings.M365_CLIENT_ID = app["clientId"]
    settings.M365_CLIENT_SECRET = app["secret"]
    settings.M365_LOGIN_URL = graphsim.base_url
    settings.M365_GRAPH_URL = graphsim.base_url
    settings.M365_CA_BUNDLE = graphsim.ca_path
    for module in (intent, runner):  # the test runs the sync itself
        monkeypatch.setattr(module, "sync_send", lambda **kwargs: None)
    return connect_graphsim_tenant(
        sim=graphsim, app=app, organization=acme, actor=alice, domain=DOMAIN, display_name="Acme"
    )


def staff(acme, alice, names):
    return [
        directory_services.user_create(
            actor=alice,
            organization=acme,
            email=f"{name}@{DOMAIN}",
            first_name=name.capitalize(),
            last_name="Example",
            job_title="Engineer",
            send_activation=False,
        )
        for name in names
    ]


def keep(name: str) -> None:
    README_SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(SCREENSHOTS / f"{name}.png", README_SHOTS / f"{name}.png")


def test_held_blocks_and_previews_in_the_console(connected, site, acme, alice, new_page, graphsim):
    tenant, base = connected.tenant, site.url
    services.tenant_brake_update(actor=alice, tenant=tenant, max_accounts=2, max_percent=1)
    team = staff(acme, alice, ["ann", "ben", "cy", "dee", "eli", "fay"])
    services.users_bind(actor=alice, tenant=tenant, users=team)
    runner.tenant_sync(tenant_id=tenant.pk, time_limit=60)
    for user in team:  # the wrong group suspended
        directory_services.user_suspend(actor=alice, user=user)
    runner.tenant_sync(tenant_id=tenant.pk, time_limit=60)
    assert HeldBlock.objects.count() == 4

    page = new_page()
    console_sign_in(page, base, alice.email)
    page.goto(f"{base}/console/m365/{tenant.pk}/")
    banner = page.inner_text("#held-banner")
    assert "4 blocks of Microsoft 365 accounts are held" in banner
    assert "suspended" in page.inner_text("[data-held-blocks]")
    page.locator("#held").scroll_into_view_if_needed()
    screenshot(page, "m365-held-blocks")
    keep("m365-held-blocks")

    newcomer = staff(acme, alice, ["gus"])[0]
    graphsim.control.admin_create_user(
        connected.microsoft_id,
        newcomer.email,
        password="Old-Passw0rd!x",
        displayName="G. Old",
        jobTitle="Intern",
    )
    page.goto(f"{base}/console/m365/users/{newcomer.pk}/bind/?preview=1")
    assert "take_over" in page.inner_text("#preview")
    assert "Intern → Engineer" in page.inner_text("#preview")
    screenshot(page, "m365-bind-preview")
    keep("m365-bind-preview")

    page.goto(f"{base}/console/m365/{tenant.pk}/")
    page.click("#held-banner >> text=Release and block 4")
    page.wait_for_selector("text=4 held blocks were released")
    runner.tenant_sync(tenant_id=tenant.pk, time_limit=60)
    blocked = [
        u
        for u in graphsim.control.users(connected.microsoft_id)
        if u["userPrincipalName"].endswith(DOMAIN) and u.get("accountEnabled") is False
    ]
    assert len(blocked) == 6
