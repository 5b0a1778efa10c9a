from m365bridge.attributes import changed_properties, desired_properties, mail_nickname


def test_every_synced_attribute_maps_to_its_graph_property(bob):
    bob.job_title, bob.usage_location, bob.business_phones = "Engineer", "DE", ["+49 30 1234"]
    desired = desired_properties(bob)
    assert desired["userPrincipalName"] == "bob@acme.example"
    assert desired["mail"] == "bob@acme.example"
    assert desired["mailNickname"] == "bob"
    assert desired["displayName"] == "Bob Brown"
    assert desired["givenName"] == "Bob"
    assert desired["jobTitle"] == "Engineer"
    assert desired["usageLocation"] == "DE"
    assert desired["businessPhones"] == ["+49 30 1234"]


def test_empty_attributes_clear_the_property_instead_of_sending_an_empty_string(bob):
    assert desired_properties(bob)["department"] is None


def test_only_changed_properties_are_sent(bob):
    known = desired_properties(bob)
    bob.department = "Sales"
    assert changed_properties(desired_properties(bob), known) == {"department": "Sales"}
    assert changed_properties(known, known) == {}


def test_mail_nickname_keeps_only_characters_graph_accepts():
    assert mail_nickname("o'brien+test@acme.example") == "obrientest"
    assert mail_nickname("a.b-c_d@acme.example") == "a.b-c_d"
    assert len(mail_nickname("x" * 80 + "@acme.example")) == 64
