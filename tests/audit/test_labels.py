"""An event's label is a copy of a name for display: a longer name than its column is
shortened, and the change it records still happens."""

from audit.models import Event
from directory import services


def test_a_group_named_with_256_characters_is_created_and_its_event_label_shortened(acme, alice):
    name = "G" * 256  # what Microsoft 365 allows for a group's displayName
    group = services.group_create(actor=alice, organization=acme, name=name)
    assert group.name == name
    label = Event.objects.get(type="group_create").target_label
    assert len(label) == 255 and label == "G" * 254 + "…"
