"""The permission check names each feature the token allows and exactly what is missing."""

from m365bridge.capabilities import claims_permissions, permission_check

USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"


def feature(check, key):
    return next(f for f in check.features if f.key == key)


def test_app_only_passwords_need_the_user_administrator_role_not_only_the_permission():
    check = permission_check(
        mode="application", permissions=["User.ReadWrite.All", "Organization.Read.All"], roles=[]
    )
    passwords = feature(check, "passwords")
    assert not passwords.allowed
    assert any(
        "User Administrator" in item and "service principal" in item for item in passwords.missing
    )
    assert feature(check, "update_users").allowed


def test_a_missing_permission_is_named_with_its_least_privileged_alternative():
    check = permission_check(mode="application", permissions=["User.Read.All"], roles=[])
    groups = feature(check, "groups")
    assert not groups.allowed
    assert any("Group.Create" in item for item in groups.missing)
    assert not check.complete


def test_delegated_rights_are_bounded_by_the_signed_in_admins_roles():
    claims = {
        "scp": "User.ReadWrite.All Group.ReadWrite.All GroupMember.ReadWrite.All "
        "Organization.Read.All Domain.Read.All LicenseAssignment.ReadWrite.All",
        "wids": [USER_ADMIN],
    }
    permissions, roles = claims_permissions(claims)
    check = permission_check(mode="delegated", permissions=permissions, roles=roles)
    assert check.complete, check.missing
    without_role = permission_check(mode="delegated", permissions=permissions, roles=[])
    assert not feature(without_role, "create_users").allowed


def test_importing_users_needs_only_to_read_them():
    check = permission_check(mode="application", permissions=["User.Read.All"], roles=[])
    assert feature(check, "import").allowed
    nothing = permission_check(mode="application", permissions=["Organization.Read.All"], roles=[])
    assert any("User.Read.All" in item for item in feature(nothing, "import").missing)
