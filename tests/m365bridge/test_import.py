"""Importing Microsoft 365 users (issue 12, I2 and I4) against graphsim over HTTPS: an
imported user is a Stratus user with Microsoft's values, bound with its Microsoft id
and state provisioned, with no password; the import writes nothing to Microsoft and the
next reconcile and sync send nothing; a conflict fails with its reason while the others
import; a rerun never duplicates; a user deleted in Microsoft after the preview is
skipped with its reason; bad values fail for that user naming the field."""

from audit.models import Event
from directory import services as directory_services
from directory.models import User
from m365bridge import import_selectors, services
from m365bridge.models import ImportItem, ImportJob, MirroredUser, UserBinding
from m365bridge.services import imports
from m365bridge.sync import reconcile

from .importing import add_account, email_taken_after_planning, mirrored
from .provisioning import (
    EMPLOYEE_PASSWORD,
    account,
    can_sign_in,
    employee,
    graph_log,
    log_mark,
    sync,
)

pytest_plugins = ["tests.m365bridge.provisioning", "tests.m365bridge.importing"]


def reconciled(tenant):
    run = reconcile.tenant_reconcile(tenant_id=tenant.pk)
    assert run.outcome == "succeeded", run.note
    return run


def imported(alice, tenant, *upns, **options) -> ImportJob:
    ids = [mirrored(tenant, upn).microsoft_id for upn in upns]
    job = services.import_start(actor=alice, tenant=tenant, microsoft_ids=ids, **options)
    return services.import_run(job_id=job.pk)


def writes(ms, since) -> list[dict]:
    return [row for row in graph_log(ms, since) if row["write"]]


def test_an_imported_user_is_bound_provisioned_with_microsofts_values_and_nothing_is_written(
    alice, ms, tenant, queued
):
    domain = ms["domain"]
    add_account(
        ms,
        "ada",
        givenName="Ada",
        surname="Lovelace",
        displayName="Ada Lovelace",
        jobTitle="Analyst",
        department="Research",
        mail=f"Ada@{domain}",
        usageLocation="GB",
        businessPhones=["+44 20 7946 0000"],
    )
    reconciled(tenant)
    mark = log_mark(ms)

    job = imported(alice, tenant, f"ada@{domain}")

    assert (job.status, job.total, job.done, job.imported, job.failed) == ("done", 1, 1, 1, 0)
    user = User.objects.get(email=f"ada@{domain}")
    assert (user.first_name, user.last_name, user.display_name) == (
        "Ada",
        "Lovelace",
        "Ada Lovelace",
    )
    assert (user.job_title, user.department, user.usage_location) == ("Analyst", "Research", "GB")
    assert user.business_phones == ["+44 20 7946 0000"]
    assert user.status == User.STAGED and not user.has_usable_password()
    binding = UserBinding.objects.get(user=user)
    assert binding.state == "provisioned" and not binding.needs_sync
    assert binding.microsoft_id == mirrored(tenant, f"ada@{domain}").microsoft_id
    assert mirrored(tenant, f"ada@{domain}").status == "imported"
    assert Event.objects.filter(type="user_import", target_id=str(user.pk)).count() == 1
    assert writes(ms, mark) == []
    # The next reconcile finds no drift and the sync sends nothing.
    run = reconciled(tenant)
    assert run.corrected == 0
    sync(tenant)
    assert writes(ms, mark) == []


def test_a_conflict_fails_with_its_reason_and_the_others_import(acme, alice, ms, tenant):
    domain = ms["domain"]
    add_account(ms, "taken")
    add_account(ms, "free")
    employee(acme, alice, ms, "taken")
    reconciled(tenant)

    job = imported(alice, tenant, f"taken@{domain}", f"free@{domain}")

    assert (job.imported, job.failed) == (1, 1)
    failure = import_selectors.import_items_unfinished(job=job).get()
    assert failure.label == f"taken@{domain}"
    assert failure.reason == "An account with this email already exists in Stratus."
    event = Event.objects.get(type="user_import", outcome="failure")
    assert event.details["reason"] == failure.reason
    assert User.objects.filter(email=f"free@{domain}").exists()


def test_an_email_taken_while_a_chunk_imports_fails_that_user_and_the_others_import(
    acme, alice, ms, tenant, monkeypatch
):
    """The chunk's users go in with one insert; a Stratus user created with one of the
    emails after the chunk checked them (another admin, meanwhile) makes the insert fail
    whole, and the chunk is imported one by one instead: that user fails, the others
    import, nothing is half-done."""
    domain = ms["domain"]
    for name in ("raced", "calm", "quiet"):
        add_account(ms, name)
    reconciled(tenant)
    email_taken_after_planning(monkeypatch, acme, alice, ms, "raced")

    job = imported(alice, tenant, f"raced@{domain}", f"calm@{domain}", f"quiet@{domain}")

    assert (job.imported, job.failed, job.done) == (2, 1, 3)
    failure = import_selectors.import_items_unfinished(job=job).get()
    assert (failure.label, failure.reason) == (f"raced@{domain}", imports.EMAIL_EXISTS)
    assert UserBinding.objects.filter(tenant=tenant).count() == 2
    assert Event.objects.filter(type="user_import", outcome="success").count() == 2
    assert User.objects.filter(email=f"raced@{domain}").count() == 1


def test_running_an_import_again_never_duplicates(alice, ms, tenant):
    domain = ms["domain"]
    add_account(ms, "once")
    reconciled(tenant)
    first = imported(alice, tenant, f"once@{domain}")
    ImportItem.objects.filter(job=first).update(outcome="pending")  # as if the worker died

    services.import_run(job_id=first.pk)
    again = imported(alice, tenant, f"once@{domain}")

    assert User.objects.filter(email=f"once@{domain}").count() == 1
    assert Event.objects.filter(type="user_import", outcome="success").count() == 1
    assert again.skipped == 1 and again.imported == 0
    assert import_selectors.import_items_unfinished(job=again).get().reason == "Already imported."


def test_a_user_deleted_in_microsoft_after_the_preview_is_skipped_with_its_reason(
    alice, ms, tenant
):
    domain = ms["domain"]
    gone = add_account(ms, "gone")
    add_account(ms, "stays")
    reconciled(tenant)
    rows = import_selectors.mirrored_users_selected(
        tenant=tenant, microsoft_ids=None, filter=import_selectors.MirrorFilter()
    )
    preview = import_selectors.import_preview(rows=rows)
    assert preview.to_import >= 2
    job = services.import_start(
        actor=alice,
        tenant=tenant,
        microsoft_ids=[mirrored(tenant, f"{n}@{domain}").microsoft_id for n in ("gone", "stays")],
    )
    ms["control"].admin_delete_user(ms["id"], gone["id"])
    reconciled(tenant)  # the delta round removes it from the mirror

    job = services.import_run(job_id=job.pk)

    assert (job.imported, job.failed) == (1, 1)
    assert import_selectors.import_items_unfinished(job=job).get().reason == imports.GONE


def test_a_value_stratus_refuses_fails_that_user_naming_the_field(alice, ms, tenant):
    domain = ms["domain"]
    add_account(ms, "long", displayName="x" * 1_000_000)
    add_account(ms, "fine")
    reconciled(tenant)

    job = imported(alice, tenant, f"long@{domain}", f"fine@{domain}")

    assert (job.imported, job.failed) == (1, 1)
    reason = import_selectors.import_items_unfinished(job=job).get().reason
    assert reason == "display_name: At most 256 characters."
    assert not User.objects.filter(email=f"long@{domain}").exists()


def test_a_blocked_microsoft_account_is_imported_suspended_without_a_write(alice, ms, tenant):
    domain = ms["domain"]
    add_account(ms, "blocked", accountEnabled=False)
    reconciled(tenant)
    mark = log_mark(ms)

    imported(alice, tenant, f"blocked@{domain}")
    sync(tenant)

    assert User.objects.get(email=f"blocked@{domain}").status == User.SUSPENDED
    assert writes(ms, mark) == []


def test_not_importable_users_fail_with_their_reason(alice, ms, tenant):
    domain = ms["domain"]
    add_account(ms, "synced", onPremisesSyncEnabled=True)
    reconciled(tenant)

    job = imported(alice, tenant, f"synced@{domain}")

    assert job.failed == 1
    assert import_selectors.import_items_unfinished(job=job).get().reason == (
        mirrored(tenant, f"synced@{domain}").reason
    )


def test_activation_emails_go_out_when_the_admin_asks(
    alice, ms, tenant, mailoutbox, django_capture_on_commit_callbacks
):
    domain = ms["domain"]
    add_account(ms, "welcome")
    add_account(ms, "later")
    reconciled(tenant)

    with django_capture_on_commit_callbacks(execute=True):
        imported(alice, tenant, f"later@{domain}")
        imported(alice, tenant, f"welcome@{domain}", send_activation=True)

    assert [m.to for m in mailoutbox] == [[f"welcome@{domain}"]]


def test_a_conflict_is_linked_to_the_stratus_user_and_synced_from_stratus(
    acme, alice, ms, tenant, queued
):
    domain = ms["domain"]
    add_account(ms, "linked", jobTitle="Old title")
    user = employee(acme, alice, ms, "linked", job_title="New title")
    reconciled(tenant)
    row = mirrored(tenant, f"linked@{domain}")
    assert row.status == MirroredUser.CONFLICT

    binding = services.mirrored_user_link(actor=alice, tenant=tenant, row=row, user=user)
    sync(tenant)

    assert binding.microsoft_id == row.microsoft_id and binding.needs_sync
    assert ms["control"].admin_get_user(ms["id"], row.microsoft_id)["jobTitle"] == "New title"
    assert mirrored(tenant, f"linked@{domain}").status == "imported"


def test_the_password_an_imported_user_sets_is_pushed_to_microsoft(alice, ms, tenant):
    domain = ms["domain"]
    add_account(ms, "grace", givenName="Grace")
    reconciled(tenant)
    imported(alice, tenant, f"grace@{domain}")
    user = User.objects.get(email=f"grace@{domain}")
    assert not can_sign_in(ms, f"grace@{domain}", EMPLOYEE_PASSWORD)

    directory_services.user_set_password(actor=None, user=user, password=EMPLOYEE_PASSWORD)
    sync(tenant)

    assert can_sign_in(ms, f"grace@{domain}", EMPLOYEE_PASSWORD)
    assert account(ms, f"grace@{domain}")["givenName"] == "Grace"  # nothing else changed


def test_a_upn_differing_from_mail_imports_with_the_mail(alice, ms, tenant):
    domain = ms["domain"]
    add_account(ms, "j.doe", mail=f"Jane.Doe@{domain}")
    reconciled(tenant)

    job = imported(alice, tenant, f"j.doe@{domain}")

    assert job.imported == 1
    assert User.objects.filter(email=f"jane.doe@{domain}").exists()


def test_two_microsoft_users_sharing_an_address_in_any_case_import_once(alice, ms, tenant):
    domain = ms["domain"]
    add_account(ms, "first", mail=f"Shared@{domain}")
    add_account(ms, "second", mail=f"SHARED@{domain}")
    add_account(ms, "third", proxyAddresses=[f"SMTP:third@{domain}", f"smtp:shared@{domain}"])
    reconciled(tenant)

    job = imported(alice, tenant, f"first@{domain}", f"second@{domain}", f"third@{domain}")

    assert (job.imported, job.failed) == (1, 2)
    assert User.objects.filter(email=f"shared@{domain}").count() == 1
    reasons = {i.reason for i in import_selectors.import_items_unfinished(job=job)}
    assert reasons == {imports.EMAIL_EXISTS}
