"""Which Graph permissions (app `roles` or delegated `scp`) allow which operation.

Each set lists every permission Microsoft accepts, least privileged first.
`Directory.ReadWrite.All` deliberately does not allow deleting users or groups, or
resetting passwords (as Microsoft documents it).
"""

AS_USER = "Directory.AccessAsUser.All"

READ_USERS = {
    "User.Read.All",
    "User.ReadBasic.All",
    "User.ReadWrite.All",
    "User.ReadUpdate.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    AS_USER,
}
CREATE_USERS = {"User.Create", "User.ReadWrite.All", "Directory.ReadWrite.All", AS_USER}
UPDATE_USERS = {"User.ReadUpdate.All", "User.ReadWrite.All", "Directory.ReadWrite.All", AS_USER}
# profilephoto-update: ProfilePhoto.ReadWrite.All (least) or User.ReadWrite.All.
WRITE_PHOTOS = {"ProfilePhoto.ReadWrite.All", "User.ReadWrite.All", AS_USER}
RESET_PASSWORD = {"User-PasswordProfile.ReadWrite.All", "User.ReadWrite.All", AS_USER}
ENABLE_USERS = {
    "User.EnableDisableAccount.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
    AS_USER,
}
DELETE_USERS = {"User.DeleteRestore.All", "User.ReadWrite.All", AS_USER}
REVOKE_SESSIONS = {
    "User.RevokeSessions.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
    AS_USER,
}
READ_DELETED = READ_USERS | {"User.DeleteRestore.All"}
READ_GROUPS = {
    "Group.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    AS_USER,
}
CREATE_GROUPS = {"Group.Create", "Group.ReadWrite.All", "Directory.ReadWrite.All", AS_USER}
UPDATE_GROUPS = {"Group.ReadWrite.All", "Directory.ReadWrite.All", AS_USER}
DELETE_GROUPS = {"Group.ReadWrite.All", AS_USER}
WRITE_MEMBERS = {
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
    AS_USER,
}
READ_ORG = {
    "Organization.Read.All",
    "Organization.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "User.Read",
    AS_USER,
}
READ_DOMAINS = {
    "Domain.Read.All",
    "Domain.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    AS_USER,
}
READ_FEDERATION = READ_DOMAINS | {
    "Domain-InternalFederation.Read.All",
    "Domain-InternalFederation.ReadWrite.All",
}
READ_SKUS = {
    "Organization.Read.All",
    "Organization.ReadWrite.All",
    "LicenseAssignment.Read.All",
    "LicenseAssignment.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    AS_USER,
}
ASSIGN_LICENSES = {
    "LicenseAssignment.ReadWrite.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
    AS_USER,
}
READ_SELF = {"User.Read"}

# Properties Microsoft calls "sensitive": acting on them for an admin needs a role.
SENSITIVE_PROPERTIES = {
    "accountEnabled",
    "businessPhones",
    "mobilePhone",
    "onPremisesImmutableId",
    "otherMails",
    "passwordProfile",
    "userPrincipalName",
}
