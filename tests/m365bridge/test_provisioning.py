"""Provisioning against graphsim over HTTPS with the real MSAL client (P1-P4, K1, E1):
bind creates the account in one write, changes PATCH only what changed, passwords are
checked up front and pushed, unbind/suspend/delete block and rebind/reactivate unblock,
and every change is one event, written once."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import Event
from directory import lifecycle
from directory import services as directory_services
from directory.errors import InvalidInput
from m365bridge import services
from m365bridge.models import UserBinding

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


def events(type_=None, outcome=None):
    rows = Event.objects.all()
    if type_:
        rows = rows.filter(type=type_)
    if outcome:
        rows = rows.filter(outcome=outcome)
    return list(rows)


def provisioned(acme, alice, ms, tenant, name, **attrs):
    user = employee(acme, alice, ms, name, **attrs)
    services.user_bind(actor=alice, tenant=tenant, user=user)
    directory_services.user_set_password(actor=alice, user=user, password=EMPLOYEE_PASSWORD)
    sync(tenant)
    return user, UserBinding.objects.get(user=user)


def test_binding_creates_each_account_with_every_attribute_and_its_password_in_one_write(
    acme, alice, ms, tenant, sent_batches, queued, django_capture_on_commit_callbacks
):
    ann = employee(
        acme,
        alice,
        ms,
        "ann",
        job_title="Engineer",
        department="R&D",
        city="Berlin",
        usage_location="DE",
        business_phones=["+49 30 1"],
    )
    ben = employee(acme, alice, ms, "ben")
    with django_capture_on_commit_callbacks(execute=True):
        results = services.users_bind(actor=alice, tenant=tenant, users=[ann, ben])
    assert [r.code for r in results] == ["bound", "bound"]
    assert queued == [tenant.pk]  # one task for the whole bulk bind, after commit
    directory_services.user_set_password(actor=alice, user=ann, password=EMPLOYEE_PASSWORD)
    mark = log_mark(ms)

    result = sync(tenant)

    assert result.applied == 2
    writes = graph_log(ms, mark)
    assert [(r["method"], r["path"], r["status"]) for r in writes] == [
        ("POST", "/v1.0/users", 201),
        ("POST", "/v1.0/users", 201),
    ]
    posted = {body["userPrincipalName"]: body for _, _, body in sent_batches}
    assert posted[ann.email]["passwordProfile"]["forceChangePasswordNextSignIn"] is False
    assert posted[ann.email]["passwordProfile"]["password"] == EMPLOYEE_PASSWORD
    assert posted[ben.email]["passwordProfile"]["password"] != EMPLOYEE_PASSWORD
    remote = account(ms, ann.email)
    assert (
        remote["jobTitle"],
        remote["department"],
        remote["city"],
        remote["usageLocation"],
        remote["businessPhones"],
        remote["mail"],
        remote["accountEnabled"],
    ) == ("Engineer", "R&D", "Berlin", "DE", ["+49 30 1"], ann.email, True)
    assert can_sign_in(ms, ann.email, EMPLOYEE_PASSWORD)
    binding = UserBinding.objects.get(user=ann)
    assert binding.state == "provisioned" and binding.microsoft_id == remote["id"]
    assert not binding.needs_sync and binding.password_pushed_at is not None
    created = events("user_create_provision")
    assert len(created) == 2 and all(not e.details["took_over_existing"] for e in created)
    event = next(e for e in created if e.target_label == ann.email)
    assert event.actor == alice and event.tenant_ref == ms["id"]
    assert event.tenant_label == "Contoso" and event.target_id == str(ann.pk)


def test_running_the_sync_again_sends_nothing_and_writes_no_second_event(acme, alice, ms, tenant):
    provisioned(acme, alice, ms, tenant, "cleo")
    mark = log_mark(ms)
    UserBinding.objects.update(needs_sync=True)  # a duplicate message, a sweep, a retry

    sync(tenant)
    sync(tenant)

    assert graph_log(ms, mark) == []
    assert len(events("user_create_provision")) == 1
    assert (
        len(
            [u for u in ms["control"].users(ms["id"]) if u["userPrincipalName"].startswith("cleo@")]
        )
        == 1
    )


def test_a_crash_after_microsoft_created_the_account_links_it_on_retry_instead_of_duplicating(
    acme, alice, ms, tenant, monkeypatch
):
    from m365bridge.sync import engine, user_outcomes

    dora = employee(acme, alice, ms, "dora")
    services.user_bind(actor=alice, tenant=tenant, user=dora)

    def crash(*args, **kwargs):
        raise SystemExit("worker killed between Microsoft's 201 and the commit")

    # Both ways an outcome is recorded: a whole chunk at once, or one row alone.
    with monkeypatch.context() as patched:
        patched.setattr(user_outcomes, "record_chunk", crash)
        patched.setattr(engine, "record", crash)
        with pytest.raises(SystemExit):
            sync(tenant)
    binding = UserBinding.objects.get(user=dora)
    assert binding.needs_sync and binding.microsoft_id == "" and binding.claim_token == ""

    sync(tenant)

    accounts = [u for u in ms["control"].users(ms["id"]) if u["userPrincipalName"] == dora.email]
    assert len(accounts) == 1
    binding.refresh_from_db()
    assert binding.microsoft_id == accounts[0]["id"] and binding.state == "provisioned"
    [event] = events("user_create_provision")
    # Stratus's own earlier create, linked: not reported as someone else's account.
    assert event.details["took_over_existing"] is False
    assert event.details["linked_after_lost_reply"] is True


def test_an_existing_account_with_the_same_upn_is_taken_over_and_overwritten(
    acme, alice, ms, tenant
):
    existing = ms["control"].admin_create_user(
        ms["id"],
        f"emma@{ms['domain']}",
        password="Old-Passw0rd-99!",
        jobTitle="Intern",
        displayName="E. Old",
        mailNickname="emma",
    )
    emma, binding = provisioned(acme, alice, ms, tenant, "emma", job_title="Director")

    assert binding.microsoft_id == existing["id"] and binding.state == "provisioned"
    remote = account(ms, emma.email)
    assert remote["jobTitle"] == "Director" and remote["displayName"] == "Emma Example"
    assert can_sign_in(ms, emma.email, EMPLOYEE_PASSWORD)
    assert not can_sign_in(ms, emma.email, "Old-Passw0rd-99!")
    [event] = events("user_create_provision")
    assert event.details["took_over_existing"] is True
    assert event.details["microsoft_id"] == existing["id"]


def test_a_change_patches_only_the_changed_attributes(acme, alice, ms, tenant, sent_batches):
    fay, binding = provisioned(acme, alice, ms, tenant, "fay", job_title="Analyst")
    sent_batches.clear()
    mark = log_mark(ms)

    directory_services.user_update(
        actor=alice, user=fay, job_title="Head of Analysis", city="Paris"
    )
    sync(tenant)

    assert sent_batches == [
        (
            "PATCH",
            f"/users/{binding.microsoft_id}",
            {"jobTitle": "Head of Analysis", "city": "Paris"},
        )
    ]
    assert [(r["method"], r["status"]) for r in graph_log(ms, mark)] == [("PATCH", 204)]
    remote = account(ms, fay.email)
    assert remote["jobTitle"] == "Head of Analysis" and remote["city"] == "Paris"
    [event] = events("user_update_provision")
    assert event.details["properties"] == ["city", "jobTitle"] and event.actor == alice


def test_a_change_to_nothing_synced_sends_nothing(acme, alice, ms, tenant, queued):
    gus, binding = provisioned(acme, alice, ms, tenant, "gus")
    queued.clear()
    mark = log_mark(ms)

    directory_services.user_update(actor=alice, user=gus, role="admin")
    sync(tenant)

    binding.refresh_from_db()
    assert queued == [] and not binding.needs_sync
    assert graph_log(ms, mark) == []
    assert events("user_update_provision") == []


def test_a_password_microsoft_would_refuse_is_refused_up_front_for_a_bound_user(
    acme, alice, ms, tenant
):
    weak_for_microsoft = "Passwordpassword1"  # fine for Acme's policy, banned words at Microsoft
    hal = employee(acme, alice, ms, "hal")
    services.user_bind(actor=alice, tenant=tenant, user=hal)

    with pytest.raises(InvalidInput) as refused:
        directory_services.user_set_password(actor=alice, user=hal, password=weak_for_microsoft)

    assert any("Microsoft 365" in problem for problem in refused.value.fields["password"])
    assert UserBinding.objects.get(user=hal).password_version == 0
    unbound = employee(acme, alice, ms, "ivy")
    directory_services.user_set_password(actor=alice, user=unbound, password=weak_for_microsoft)
    assert unbound.check_password(weak_for_microsoft)


def test_a_password_set_in_stratus_reaches_microsoft(acme, alice, ms, tenant):
    jon, binding = provisioned(acme, alice, ms, tenant, "jon")
    before = account(ms, jon.email)["lastPasswordChangeDateTime"]
    time.sleep(1.1)  # Microsoft keeps whole seconds
    new_password = "Tq4!vNw8-Zr3pLs"

    directory_services.user_set_password(
        actor=jon, user=jon, password=new_password, source="portal"
    )
    binding.refresh_from_db()
    assert binding.needs_sync and binding.password_encrypted
    assert new_password not in binding.password_encrypted
    sync(tenant)

    assert account(ms, jon.email)["lastPasswordChangeDateTime"] > before
    assert can_sign_in(ms, jon.email, new_password)
    assert not can_sign_in(ms, jon.email, EMPLOYEE_PASSWORD)
    [event] = events("user_password_update_provision")
    assert event.actor == jon and event.outcome == "success"
    binding.refresh_from_db()
    assert binding.password_pushed_version == binding.password_version == 2


def test_unbinding_blocks_sign_in_then_forgets_the_binding_and_rebinding_unblocks(
    acme, alice, ms, tenant
):
    kim, binding = provisioned(acme, alice, ms, tenant, "kim")

    services.user_unbind(actor=alice, user=kim)
    assert UserBinding.objects.get(user=kim).password_encrypted == ""
    sync(tenant)

    remote = account(ms, kim.email)
    assert remote["accountEnabled"] is False and remote["id"] == binding.microsoft_id
    assert not UserBinding.objects.filter(user=kim).exists()
    [event] = events("user_deprovision")
    assert event.actor == alice and event.target_label == kim.email

    services.user_bind(actor=alice, tenant=tenant, user=kim)
    sync(tenant)

    assert account(ms, kim.email)["accountEnabled"] is True
    assert UserBinding.objects.get(user=kim).microsoft_id == binding.microsoft_id
    assert len(events("user_reactivate_provision")) == 1
    assert [
        u["id"] for u in ms["control"].users(ms["id"]) if u["userPrincipalName"] == kim.email
    ] == [binding.microsoft_id]


def test_suspending_blocks_sign_in_and_reactivating_unblocks_it(acme, alice, ms, tenant):
    leo, binding = provisioned(acme, alice, ms, tenant, "leo")

    directory_services.user_suspend(actor=alice, user=leo)
    sync(tenant)
    assert account(ms, leo.email)["accountEnabled"] is False
    binding.refresh_from_db()
    assert binding.state == "blocked"

    directory_services.user_activate(actor=alice, user=leo)
    sync(tenant)
    assert account(ms, leo.email)["accountEnabled"] is True
    binding.refresh_from_db()
    assert binding.state == "provisioned"
    assert len(events("user_deprovision")) == 1 and len(events("user_reactivate_provision")) == 1


def test_deleting_a_user_blocks_the_account_then_removes_the_binding(acme, alice, ms, tenant):
    mia, binding = provisioned(acme, alice, ms, tenant, "mia")
    user_id = mia.pk

    directory_services.user_delete(actor=alice, user=mia)
    binding.refresh_from_db()
    assert binding.user is None and not binding.bound and binding.password_encrypted == ""
    sync(tenant)

    remote = ms["control"].admin_get_user(ms["id"], binding.microsoft_id)
    assert remote["accountEnabled"] is False  # blocked, never deleted
    assert not UserBinding.objects.filter(pk=binding.pk).exists()
    [event] = events("user_deprovision")
    assert event.target_label == f"mia@{ms['domain']}" and event.target_id == str(user_id)


def test_one_bad_user_does_not_stop_the_others_and_shows_microsofts_reason(acme, alice, ms, tenant):
    # Stratus believes the domain is verified; Microsoft does not have it.
    tenant.domains.create(name="not-verified.example")
    bad = directory_services.user_create(
        actor=alice,
        organization=acme,
        email="nick@not-verified.example",
        send_activation=False,
        first_name="Nick",
    )
    good = [employee(acme, alice, ms, name) for name in ("ola", "pat")]
    services.users_bind(actor=alice, tenant=tenant, users=[good[0], bad, good[1]])

    result = sync(tenant)

    assert result.applied == 2 and result.failed == 1
    assert all(account(ms, u.email)["accountEnabled"] for u in good)
    binding = UserBinding.objects.get(user=bad)
    assert binding.state == "error" and not binding.needs_sync
    assert binding.last_error_code and "userPrincipalName" in binding.last_error_message
    assert binding.last_error_request_id
    [failure] = events("user_create_provision", outcome="failure")
    assert failure.details["code"] == binding.last_error_code
    assert failure.details["request_id"] == binding.last_error_request_id
    sync(tenant)  # a permanent refusal is not resent by itself ...
    assert len(events("user_create_provision", outcome="failure")) == 1
    services.binding_retry(actor=alice, binding=binding)  # ... only when asked
    sync(tenant)
    assert len(events("user_create_provision", outcome="failure")) == 2


def test_a_tenant_needing_reauthorization_holds_its_work_then_releases_it(acme, alice, ms, tenant):
    quinn = employee(acme, alice, ms, "quinn")
    services.user_bind(actor=alice, tenant=tenant, user=quinn)
    tenant.status = "needs_reauthorization"
    tenant.save()
    mark = log_mark(ms)

    result = sync(tenant)

    assert result.held == "needs_reauthorization" and graph_log(ms, mark) == []
    assert UserBinding.objects.get(user=quinn).needs_sync
    tenant.status = "connected"
    tenant.save()
    sync(tenant)
    assert account(ms, quinn.email)["accountEnabled"] is True
    assert not UserBinding.objects.get(user=quinn).needs_sync


def test_an_account_already_bound_to_another_user_is_never_taken_over(acme, alice, ms, tenant):
    ray, ray_binding = provisioned(acme, alice, ms, tenant, "ray")
    directory_services.user_update(actor=alice, user=ray, email=f"raymond@{ms['domain']}")
    UserBinding.objects.filter(pk=ray_binding.pk).update(needs_sync=False)  # not sent yet
    newcomer = employee(acme, alice, ms, "ray")  # the address Ray's account still has
    services.user_bind(actor=alice, tenant=tenant, user=newcomer)

    sync(tenant)

    binding = UserBinding.objects.get(user=newcomer)
    assert binding.state == "error" and binding.last_error_code == "already_linked"
    assert binding.microsoft_id == ""
    UserBinding.objects.filter(pk=ray_binding.pk).update(needs_sync=True)
    sync(tenant)  # Ray's account is renamed, which frees the address
    services.binding_retry(actor=alice, binding=binding)
    sync(tenant)
    binding.refresh_from_db()
    assert binding.state == "provisioned" and binding.microsoft_id != ray_binding.microsoft_id
    assert account(ms, f"raymond@{ms['domain']}")["id"] == ray_binding.microsoft_id


def test_an_expired_password_blocks_sign_in_and_a_new_password_unblocks_it(acme, alice, ms, tenant):
    sol, binding = provisioned(acme, alice, ms, tenant, "sol")
    acme.password_max_age_days = 30
    acme.save()
    sol.__class__.objects.filter(pk=sol.pk).update(
        password_changed_at=timezone.now() - timedelta(days=31)
    )

    lifecycle.expiry_run()
    sync(tenant)
    assert account(ms, sol.email)["accountEnabled"] is False

    sol.refresh_from_db()
    directory_services.user_set_password(
        actor=sol, user=sol, password="Hv6$kPw3-Qm8tZr", source="portal"
    )
    sync(tenant)
    assert account(ms, sol.email)["accountEnabled"] is True
    assert can_sign_in(ms, sol.email, "Hv6$kPw3-Qm8tZr")
    assert len(events("user_deprovision")) == 1 and len(events("user_reactivate_provision")) == 1
