from m365bridge.passwords import microsoft_password_problems


def test_a_strong_ascii_password_passes():
    assert microsoft_password_problems("Correct-Horse-42") == []


def test_too_short_and_too_few_classes_are_named():
    problems = microsoft_password_problems("abcdefg")
    assert "Microsoft 365 requires 8 to 256 characters." in problems
    assert any("three of" in p for p in problems)


def test_characters_microsoft_refuses_are_named():
    assert microsoft_password_problems("Éclair-Strong-42") == [
        "Microsoft 365 does not accept these characters: É"
    ]


def test_a_password_built_on_a_banned_word_or_the_users_name_is_refused():
    assert any("too easy" in p for p in microsoft_password_problems("P@ssw0rd1!"))
    assert any(
        "too easy" in p for p in microsoft_password_problems("Brownie!1", last_name="Brownie")
    )
    assert microsoft_password_problems("ContoS0Bl@nkf9!", tenant_name="Contoso") == []
