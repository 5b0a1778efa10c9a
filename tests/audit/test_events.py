import pytest

from audit.models import AppendOnlyError, Event
from audit.services import event_record


def test_events_cannot_be_changed_or_deleted(acme, alice):
    event = event_record(organization=acme, type="thing", actor=alice, target=alice)
    event.type = "other"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        Event.objects.filter(pk=event.pk).update(type="other")
    with pytest.raises(AppendOnlyError):
        Event.objects.filter(pk=event.pk).delete()


def test_a_secret_in_details_is_refused(acme, alice):
    with pytest.raises(ValueError, match="looks like a secret"):
        event_record(
            organization=acme, type="x", actor=alice, details={"nested": {"password": "p"}}
        )


def test_the_actor_label_survives_the_actor(acme, alice, bob):
    from directory import services

    services.user_update(actor=bob, user=alice, job_title="CEO")
    services.user_delete(actor=alice, user=bob)
    event = Event.objects.get(type="user_update")
    assert event.actor is None
    assert event.actor_label == "bob@acme.example"


def test_a_batch_of_events_is_written_in_one_statement_with_every_value_and_its_id(
    acme, alice, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit import services
    from audit.services import events_batched

    told = []
    subscribers = [*services._subscribers, lambda events: told.append([e.pk for e in events])]
    monkeypatch.setattr(services, "_subscribers", subscribers)
    with CaptureQueriesContext(connection) as queries, events_batched():
        made = [
            event_record(
                organization=acme if i % 2 else None,
                type=f"batch_{i}",
                actor=alice if i % 3 else None,
                target=alice,
                outcome="failure" if i == 2 else "success",
                details={"n": i, "text": 'zürich "quoted"', "nested": {"list": [1, None]}},
                tenant_ref=f"tenant-{i}",
            )
            for i in range(5)
        ]
    inserts = [
        q for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "audit_event"')
    ]
    assert len(inserts) == 1
    assert told and told[-1] == [e.pk for e in made] and all(told[-1])
    stored = {e.pk: e for e in Event.objects.filter(pk__in=[e.pk for e in made])}
    fields = [f.attname for f in Event._meta.concrete_fields]
    for event in made:
        assert {f: getattr(stored[event.pk], f) for f in fields} == {
            f: getattr(event, f) for f in fields
        }
    assert stored[made[4].pk].details["text"] == 'zürich "quoted"'
    assert stored[made[0].pk].actor_id is None and stored[made[1].pk].actor_id == alice.pk


def test_a_value_too_long_for_its_column_is_refused_not_cut_short(acme, alice):
    from django.db import DataError, transaction

    from audit.services import events_batched

    with pytest.raises(DataError), transaction.atomic(), events_batched():
        for i in range(2):
            event_record(organization=acme, type="t" * (65 + i), actor=alice)
    assert not Event.objects.filter(type__startswith="ttt").exists()
