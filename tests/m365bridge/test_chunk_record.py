"""A whole `$batch` of outcomes recorded in one transaction (`sync.chunk_record`): one
event per accepted write, the compare-and-set on each row's generation, and a failure
in one row that loses none of the others."""

import threading
import time

from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import Event
from directory import services as directory_services
from m365bridge import services
from m365bridge.models import UserBinding
from m365bridge.sync import chunk_record, engine, user_outcomes
from m365bridge.sync import plan as planning
from m365bridge.sync import users as user_kind
from m365bridge.sync.engine import SyncResult

from .provisioning import account, employee, sync

pytest_plugins = ["tests.m365bridge.provisioning"]  # its fixtures: ms, tenant, queued, ...


def test_a_chunk_of_creates_is_recorded_with_one_event_each_in_a_few_statements(
    acme, alice, ms, tenant
):
    people = [employee(acme, alice, ms, f"chunk{i}") for i in range(engine.CHUNK)]
    services.users_bind(actor=alice, tenant=tenant, users=people)

    with CaptureQueriesContext(connection) as queries:
        result = sync(tenant)

    assert result.applied == engine.CHUNK
    bindings = UserBinding.objects.filter(user__in=people)
    assert all(b.state == "provisioned" and b.microsoft_id and not b.needs_sync for b in bindings)
    events = Event.objects.filter(type="user_create_provision", outcome="success")
    assert sorted(e.target_label for e in events) == sorted(p.email for p in people)
    for binding in bindings:
        assert account(ms, binding.user.email)["id"] == binding.microsoft_id
    # The whole task, savepoints of the test's transaction included: one row at a time
    # took 6-8 statements per row (over 120 for this chunk).
    assert len(queries) <= 40, [q["sql"][:80] for q in queries.captured_queries]


def test_a_row_changed_while_its_chunk_was_on_the_wire_keeps_its_intent(
    transactional_db, acme, alice, ms, tenant
):
    people = [employee(acme, alice, ms, f"moving{i}") for i in range(3)]
    services.users_bind(actor=alice, tenant=tenant, users=people)
    ms["control"].set_faults(ms["id"], latency_ms=1500)
    mover = people[1]

    def change_while_sent():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if UserBinding.objects.filter(user=mover).exclude(claim_token="").exists():
                time.sleep(0.3)  # the chunk is claimed: its $batch is on its way
                directory_services.user_update(actor=alice, user=mover, job_title="Moved")
                return
            time.sleep(0.02)

    changer = threading.Thread(target=change_while_sent)
    changer.start()
    try:
        sync_result = sync(tenant)
    finally:
        changer.join()
        ms["control"].set_faults(ms["id"], latency_ms=0)

    # The chunk was recorded with the job title it sent; the row's newer generation
    # kept its intent, so the same task's next round sent the change (without the
    # compare-and-set the intent would have been cleared and the change lost).
    assert sync_result.counts == {"create": 3, "update": 1}
    assert account(ms, mover.email)["jobTitle"] == "Moved"
    moved = UserBinding.objects.get(user=mover)
    assert not moved.needs_sync and moved.known_properties["jobTitle"] == "Moved"
    assert Event.objects.filter(type="user_create_provision").count() == 3
    [update] = Event.objects.filter(type="user_update_provision")
    assert update.target_label == mover.email and "jobTitle" in update.details["properties"]


def test_a_row_that_fails_in_its_chunk_loses_none_of_the_others(acme, alice, ms, tenant):
    """Two replies naming the same Microsoft account: the chunk's single UPDATE breaks
    the unique link, the chunk is recorded row by row, the first links it, the second
    fails with the reason, and each has exactly one event."""
    people = [employee(acme, alice, ms, f"clash{i}") for i in range(3)]
    services.users_bind(actor=alice, tenant=tenant, users=people)
    claimed = engine.claim(user_kind.USERS, tenant_id=tenant.pk, token="t" * 32)
    plans = [planning.binding_plan(b) for b in claimed]
    replies = [{"id": "11111111-1111-1111-1111-111111111111"}] * 2 + [
        {"id": "22222222-2222-2222-2222-222222222222"}
    ]
    result = SyncResult(tenant_id=tenant.pk)

    user_outcomes.record_successes(claimed, list(zip(claimed, plans, replies, strict=True)), result)

    rows = {b.user_id: b for b in UserBinding.objects.filter(user__in=people)}
    first, second, third = (rows[p.pk] for p in people)
    assert first.microsoft_id == "11111111-1111-1111-1111-111111111111" and not first.needs_sync
    assert third.microsoft_id == "22222222-2222-2222-2222-222222222222" and not third.needs_sync
    assert second.state == "error" and second.last_error_code == "already_linked"
    assert all(b.claim_token == "" for b in rows.values())
    created = Event.objects.filter(type="user_create_provision")
    assert sorted((e.target_label, e.outcome) for e in created) == sorted(
        [(people[0].email, "success"), (people[1].email, "failure"), (people[2].email, "success")]
    )
    assert result.applied == 2 and result.failed == 1


def test_an_outcome_that_raises_rolls_back_the_chunk_and_each_row_is_recorded_alone(
    acme, alice, ms, tenant
):
    people = [employee(acme, alice, ms, f"alone{i}") for i in range(3)]
    services.users_bind(actor=alice, tenant=tenant, users=people)
    claimed = engine.claim(user_kind.USERS, tenant_id=tenant.pk, token="u" * 32)
    alone = []

    def update(row):
        if row.pk == claimed[1].pk:
            raise RuntimeError("this row cannot be recorded")
        row.state = "provisioned"
        return True

    whole = chunk_record.record_chunk(
        user_kind.USERS,
        [
            chunk_record.Outcome(
                pk=b.pk,
                generation=b.generation,
                update=update,
                alone=lambda b=b: alone.append(b.pk),
            )
            for b in claimed
        ],
        claimed={b.pk: b for b in claimed},
    )

    assert whole is False
    assert alone == [b.pk for b in claimed]  # every row, in order, on its own
    # Nothing of the rolled-back chunk stayed: not even the rows that were fine.
    assert all(b.state == "pending" and b.needs_sync for b in UserBinding.objects.all())


def test_a_chunk_is_saved_with_only_the_columns_its_outcomes_changed(acme, alice, ms, tenant):
    """A column one row changed is written for every row (one statement); a column no
    row changed is left out, and keeps its value."""
    people = [employee(acme, alice, ms, f"narrow{i}") for i in range(3)]
    services.users_bind(actor=alice, tenant=tenant, users=people)
    claimed = engine.claim(user_kind.USERS, tenant_id=tenant.pk, token="v" * 32)

    def update(row):
        if row.pk == claimed[1].pk:
            row.lifecycle_note = "only this row"
        if row.pk == claimed[2].pk:
            row.drift["mail"] = True  # an empty JSON value filled in place is a change
        row.state = "provisioned"
        return True

    outcomes = [
        chunk_record.Outcome(pk=b.pk, generation=b.generation, update=update, alone=lambda: None)
        for b in claimed
    ]
    with CaptureQueriesContext(connection) as queries:
        whole = chunk_record.record_chunk(
            user_kind.USERS, outcomes, claimed={b.pk: b for b in claimed}
        )

    assert whole is True
    [saved] = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    columns = saved.split(" FROM (VALUES")[0]
    for changed in ("state", "lifecycle_note", "needs_sync", "claim_token", "updated_at", "drift"):
        assert f'"{changed}" = v."{changed}"' in columns
    left = ("user_label", "organization_id", "password_encrypted", "created_at")
    for unchanged in (*left, "known_properties"):  # known_properties: still empty, as loaded
        assert f'"{unchanged}"' not in columns
    rows = {b.pk: b for b in UserBinding.objects.filter(user__in=people)}
    assert [rows[b.pk].lifecycle_note for b in claimed] == ["", "only this row", ""]
    assert [rows[b.pk].drift for b in claimed] == [{}, {}, {"mail": True}]
    assert all(r.state == "provisioned" and not r.needs_sync for r in rows.values())
    assert sorted(r.user_label for r in rows.values()) == sorted(p.email for p in people)
    assert all(rows[b.pk].updated_at > b.updated_at for b in claimed)  # auto_now still set
