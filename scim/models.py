from django.db import models

from directory.models import Group, User


class ScimUser(models.Model):
    """What SCIM says about a user that the directory has no field for: the client's own
    id for it (`externalId`), the enterprise extension's `manager`, and the published
    attributes Stratus does not use (`extra`: emails, phoneNumbers, addresses, nickName,
    ..., as the client sent them; see scim.schemas.KEPT_*)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="scim")
    external_id = models.CharField(max_length=256, blank=True)
    manager = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    extra = models.JSONField(default=dict, blank=True)

    def __str__(self):
        return f"SCIM data of {self.user_id}"


class ScimGroup(models.Model):
    """The SCIM client's own id for a group (`externalId`)."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="scim")
    external_id = models.CharField(max_length=256, blank=True)

    def __str__(self):
        return f"SCIM data of group {self.group_id}"
