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
