"""Reconcile against graphsim over HTTPS (P5): drift made by a Microsoft 365 admin in an
attribute, in sign-in or in the password is overwritten on the next reconcile, with one
event per correction saying it was drift; only drifted accounts are written; a delta
link Microsoft no longer knows falls back to a full read; a tenant is reconciled by one
run at a time; with nothing changed a run costs one request."""

import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from audit.models import Event
from directory import services as directory_services
from m365bridge import services
from m365bridge.models import SyncRun, Tenant, UserBinding
from m365bridge.sync import reconcile

from .conftest import REDIRECT_URI, _submit
from .factories import SyncRunFactory
from .provisioning import (
    EMPLOYEE_PASSWORD,
    account,
    can_sign_in,
    employee,
    graph_log,
    log_mark,
    sync,
)

pytest_plugins = ["tests.m365bridge.provisioning"]  # its fixtures: ms, tenant, queued, ...


@pytest.fixture(autouse=True)
def _exact_password_clock(settings):
    # graphsim and the tests share one clock: no grace needed for Microsoft's whole seconds.
    settings.M365_PASSWORD_DRIFT_GRACE_SECONDS = 0


def provisioned(acme, alice, ms, tenant, *names):
    users = []
    for name in names:
        user = employee(acme, alice, ms, name, job_title="Engineer")
        services.user_bind(actor=alice, tenant=tenant, user=user)
        directory_services.user_set_password(actor=alice, user=user, password=EMPLOYEE_PASSWORD)
        users.append(user)
    sync(tenant)
    return users


def reconciled(tenant, actor=None) -> SyncRun:
    return reconcile.tenant_reconcile(tenant_id=tenant.pk, actor_id=getattr(actor, "pk", None))


def baseline(tenant) -> SyncRun:
    """The first run reads every user and keeps the delta link."""
    run = reconciled(tenant)
    assert run.outcome == "succeeded" and run.kind == "full" and run.corrected == 0, run.note
    return run


def refresh_token_of(ms, upn, password) -> str:
    """Sign in as the employee (authorization code with offline_access): their session."""
    sim = ms["sim"]
    query = urlencode(
        {
            "client_id": ms["client_id"],
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "scope": "openid offline_access",
            "state": "s",
        }
    )
    url = f"{sim.base_url}/{ms['id']}/oauth2/v2.0/authorize?{query}"
    session = sim.session()
    page = session.get(url, allow_redirects=False, timeout=30)
    redirect = _submit(session, url, page.text, login=upn, passwd=password)
    code = dict(parse_qsl(urlsplit(redirect.headers["Location"]).query))["code"]
    return token_request(
        ms, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI
    ).json()["refresh_token"]


def token_request(ms, **form):
    app = ms["sim"].control.get_app(ms["client_id"])
    return (
        ms["sim"]
        .session()
        .post(
            f"{ms['sim'].base_url}/{ms['id']}/oauth2/v2.0/token",
            timeout=30,
            data={
                "client_id": ms["client_id"],
                "client_secret": app["secret"],
                "scope": "openid offline_access",
                **form,
            },
        )
    )


def drift_events(type_):
    return [e for e in Event.objects.filter(type=type_) if e.details.get("reason") == "drift"]


def writes(ms, since):
    return [r for r in graph_log(ms, since) if r["method"] != "GET"]


def test_with_nothing_changed_a_reconcile_costs_one_request_per_feed_and_corrects_nothing(
    acme, alice, ms, tenant
):
    provisioned(acme, alice, ms, tenant, "ann", "ben", "cid")
    first = baseline(tenant)
    assert first.read >= 3 and first.note.startswith(reconcile.FIRST_READ)
    mark = log_mark(ms)

    run = reconciled(tenant)

    assert (run.outcome, run.kind, run.requests, run.corrected, run.failed) == (
        "succeeded",
        "delta",
        2,
        0,
        0,
    )
    requests = graph_log(ms, mark)
    assert [(r["method"], r["path"].split("?")[0]) for r in requests] == [
        ("GET", "/v1.0/users/delta"),
        ("GET", "/v1.0/groups/delta"),  # the group mirror and bound groups (issue 12)
    ]
    assert not UserBinding.objects.filter(needs_sync=True).exists()
    assert run.ended_at >= run.started_at


def test_an_attribute_changed_in_microsoft_is_overwritten_and_only_that_user_is_written(
    acme, alice, ms, tenant, queued
):
    ann, ben = provisioned(acme, alice, ms, tenant, "ann", "ben")
    baseline(tenant)
    ms["control"].admin_update_user(
        ms["id"], ann.email, jobTitle="Chief Everything", city="Nowhere"
    )
    queued.clear()
    mark = log_mark(ms)

    run = reconciled(tenant)
    result = sync(tenant)

    assert run.corrected == 1 and queued == [tenant.pk]
    assert result.applied == 1
    remote = account(ms, ann.email)
    assert remote["jobTitle"] == "Engineer" and remote["city"] is None
    binding = UserBinding.objects.get(user=ann)
    assert [(r["method"], r["path"]) for r in writes(ms, mark)] == [
        ("PATCH", f"/v1.0/users/{binding.microsoft_id}")
    ]
    [event] = drift_events("user_update_provision")
    assert event.target_label == ann.email and event.actor is None
    assert event.details["drifted"] == ["city", "jobTitle"]
    assert set(event.details["properties"]) >= {"city", "jobTitle"}
    assert binding.drift == {} and not binding.needs_sync


def test_an_account_blocked_in_microsoft_while_active_in_stratus_is_unblocked(
    acme, alice, ms, tenant
):
    ann, ben = provisioned(acme, alice, ms, tenant, "ann", "ben")
    baseline(tenant)
    ms["control"].admin_block(ms["id"], ann.email)
    mark = log_mark(ms)

    reconciled(tenant)
    sync(tenant)

    assert account(ms, ann.email)["accountEnabled"] is True
    assert can_sign_in(ms, ann.email, EMPLOYEE_PASSWORD)
    [event] = drift_events("user_reactivate_provision")
    assert event.target_label == ann.email and event.details["account_enabled"] is True
    assert len(writes(ms, mark)) == 1


def test_an_account_unblocked_in_microsoft_while_suspended_in_stratus_is_blocked_again(
    acme, alice, ms, tenant
):
    ann, ben = provisioned(acme, alice, ms, tenant, "ann", "ben")
    directory_services.user_suspend(actor=alice, user=ann)
    sync(tenant)
    assert account(ms, ann.email)["accountEnabled"] is False
    baseline(tenant)
    ms["control"].admin_unblock(ms["id"], ann.email)

    reconciled(tenant)
    sync(tenant)

    assert account(ms, ann.email)["accountEnabled"] is False
    assert not can_sign_in(ms, ann.email, EMPLOYEE_PASSWORD)
    [event] = drift_events("user_deprovision")
    assert event.target_label == ann.email and event.details["account_enabled"] is False
    assert UserBinding.objects.get(user=ann).state == "blocked"


def test_a_password_changed_in_microsoft_is_overwritten_and_its_sessions_revoked(
    acme, alice, ms, tenant
):
    ann, ben = provisioned(acme, alice, ms, tenant, "ann", "ben")
    baseline(tenant)
    time.sleep(1.1)  # Microsoft keeps whole seconds: the admin's change is a later one
    ms["control"].admin_set_password(ms["id"], ann.email, "Adm1n-Chosen-Pw!")
    session = refresh_token_of(ms, ann.email, "Adm1n-Chosen-Pw!")
    assert token_request(ms, grant_type="refresh_token", refresh_token=session).ok
    mark = log_mark(ms)
    ms["control"].set_throttling(ms["id"], enabled=False)  # restarts graphsim's write records

    run = reconciled(tenant)
    sync(tenant)

    assert run.corrected == 1
    # the push and its revoke are security-relevant: both sent at high priority
    assert ms["control"].write_windows(ms["id"])["priorities"] == {"high": 2}
    assert can_sign_in(ms, ann.email, EMPLOYEE_PASSWORD)
    assert not can_sign_in(ms, ann.email, "Adm1n-Chosen-Pw!")
    signed_out = token_request(ms, grant_type="refresh_token", refresh_token=session)
    assert signed_out.status_code == 400 and "50173" in signed_out.json()["error_description"]
    binding = UserBinding.objects.get(user=ann)
    assert [(r["method"], r["path"], r["status"]) for r in writes(ms, mark)] == [
        ("PATCH", f"/v1.0/users/{binding.microsoft_id}", 204),
        ("POST", f"/v1.0/users/{binding.microsoft_id}/revokeSignInSessions", 200),
    ]
    [event] = Event.objects.filter(type="user_password_update_provision", details__reason="drift")
    assert event.target_label == ann.email and event.details["sessions_revoked"] is True
    assert "Adm1n" not in str(event.details) and EMPLOYEE_PASSWORD not in str(event.details)
    assert drift_events("user_update_provision") == []
    # Stratus's own push is not mistaken for drift by the next run.
    assert reconciled(tenant).corrected == 0


def test_a_users_own_password_push_is_not_drift(acme, alice, ms, tenant):
    (ann,) = provisioned(acme, alice, ms, tenant, "ann")
    baseline(tenant)
    directory_services.user_set_password(actor=alice, user=ann, password="Tq4!vNw8-Zr3pLs")
    sync(tenant)

    run = reconciled(tenant)

    assert run.corrected == 0 and run.read == 1
    assert Event.objects.filter(details__reason="drift").count() == 0


def test_an_expired_delta_link_falls_back_to_a_full_read_noted_in_the_history(
    acme, alice, ms, tenant
):
    ann, ben = provisioned(acme, alice, ms, tenant, "ann", "ben")
    baseline(tenant)
    old_link = Tenant.objects.get(pk=tenant.pk).delta_link
    ms["control"].admin_update_user(ms["id"], ben.email, department="Drifted")
    ms["control"].set_time_scale(ms["id"], 7 * 24 * 3600)  # delta links now live 1 s
    try:
        time.sleep(1.2)
        run = reconciled(tenant)
    finally:
        ms["control"].set_time_scale(ms["id"], 1)

    assert (run.outcome, run.kind) == ("succeeded", "full")
    assert "syncStateNotFound" in run.note and run.read >= 2
    # the refused link, then the full read; the same for groups/delta (its link expired too)
    assert run.corrected == 1 and run.requests == 4
    new_link = Tenant.objects.get(pk=tenant.pk).delta_link
    assert new_link and new_link != old_link
    sync(tenant)
    assert account(ms, ben.email)["department"] is None


def test_a_second_reconcile_of_a_tenant_stops_at_once_while_one_is_running(
    acme, alice, ms, tenant, monkeypatch
):
    provisioned(acme, alice, ms, tenant, "ann")
    baseline(tenant)
    seen = []
    original = reconcile._page_check

    def another_worker_meanwhile(round_, items, **kwargs):
        seen.append(reconciled(tenant))  # a second worker starts while the first reads
        return original(round_, items, **kwargs)

    monkeypatch.setattr(reconcile, "_page_check", another_worker_meanwhile)
    mark = log_mark(ms)

    first = reconciled(tenant)

    [second] = seen
    assert second.outcome == "skipped" and second.note == reconcile.ALREADY_RUNNING
    assert second.requests == 0 and first.outcome == "succeeded"
    assert len(graph_log(ms, mark)) == 2  # only the first run read Microsoft (users, groups)
    assert Tenant.objects.get(pk=tenant.pk).reconcile_token == ""  # released


def test_the_lease_of_a_worker_that_died_expires(acme, alice, ms, tenant):
    from django.utils import timezone

    provisioned(acme, alice, ms, tenant, "ann")
    assert reconcile.reconcile_lease_claim(tenant_id=tenant.pk, token="dead-worker")
    dead = SyncRunFactory(tenant=tenant)  # its run, left running
    assert reconciled(tenant).outcome == "skipped"

    Tenant.objects.filter(pk=tenant.pk).update(
        reconcile_until=timezone.now() - timezone.timedelta(seconds=1)
    )

    assert reconciled(tenant).outcome == "succeeded"
    dead.refresh_from_db()
    assert dead.outcome == "failed" and dead.note == reconcile.WORKER_STOPPED and dead.ended_at


def test_an_account_deleted_in_microsoft_goes_back_to_the_engine(acme, alice, ms, tenant):
    ann, ben = provisioned(acme, alice, ms, tenant, "ann", "ben")
    baseline(tenant)
    ms["control"].admin_delete_user(ms["id"], ann.email)

    run = reconciled(tenant)

    assert run.corrected == 1
    binding = UserBinding.objects.get(user=ann)
    # P7: the id is kept so the engine can restore that very object (sync.restore).
    assert binding.needs_sync and binding.drift == {"missing": True}
    assert binding.microsoft_id and binding.state == "pending"
    assert UserBinding.objects.get(user=ben).state == "provisioned"


def test_an_account_the_engine_wrote_after_the_read_began_is_read_again_before_judging(
    acme, alice, ms, tenant, monkeypatch
):
    (ann,) = provisioned(acme, alice, ms, tenant, "ann")
    baseline(tenant)
    ms["control"].admin_update_user(ms["id"], ann.email, jobTitle="Old news")
    original = reconcile._page_check

    def engine_fixes_it_meanwhile(round_, items, **kwargs):
        if not kwargs:  # the delta page, read before the engine's write below
            services.binding_retry(
                actor=None, binding=UserBinding.objects.get(user=ann), resend=True
            )
            sync(tenant)
        return original(round_, items, **kwargs)

    monkeypatch.setattr(reconcile, "_page_check", engine_fixes_it_meanwhile)

    run = reconciled(tenant)

    # the delta page, then one re-read, then groups/delta
    assert run.corrected == 0 and run.requests == 3
    assert account(ms, ann.email)["jobTitle"] == "Engineer"


def test_tenants_are_due_after_their_own_interval(acme, alice, ms, tenant):
    from django.utils import timezone

    assert reconcile.tenants_due() == [tenant.pk]
    reconciled(tenant)
    assert reconcile.tenants_due() == []
    Tenant.objects.filter(pk=tenant.pk).update(
        last_reconcile_at=timezone.now() - timezone.timedelta(minutes=11)
    )
    assert reconcile.tenants_due() == [tenant.pk]
    Tenant.objects.filter(pk=tenant.pk).update(reconcile_interval_minutes=30)
    assert reconcile.tenants_due() == []


def test_the_schedule_queues_due_tenants_and_the_task_runs_one_reconcile(
    acme, alice, ms, tenant, monkeypatch
):
    from workers import tasks

    sent = []
    monkeypatch.setattr(
        reconcile, "reconcile_send", lambda *, tenant_id, actor_id=None: sent.append(tenant_id)
    )
    assert tasks.m365_reconcile_due() == [tenant.pk] and sent == [tenant.pk]

    outcome = tasks.m365_reconcile_tenant(tenant.pk)

    assert outcome["outcome"] == "succeeded" and outcome["requests"] == 2  # users, groups
    assert SyncRun.objects.get(pk=outcome["run"]).kind == "full"
    assert tasks.m365_reconcile_due() == []  # reconciled just now: not due for 10 minutes
