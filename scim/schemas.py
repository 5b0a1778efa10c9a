"""What this SCIM service serves, described once with scim2-models: the User (with the
enterprise extension) and Group schemas cut down to the attributes Stratus stores, the
resource types, and the ServiceProviderConfig. The same description publishes the
discovery endpoints and builds the models that validate every request, so a client
can send exactly what is published and nothing else."""

from functools import cache

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    EnterpriseUser,
    ETag,
    Filter,
    Group,
    Meta,
    Patch,
    ResourceType,
    Schema,
    SchemaExtension,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    User,
)

USER_SCHEMA = str(User.__schema__)
ENTERPRISE_SCHEMA = str(EnterpriseUser.__schema__)
GROUP_SCHEMA = str(Group.__schema__)
MAX_RESULTS = 200  # the most resources one list response carries
DEFAULT_COUNT = 100

# Attribute name → the sub-attributes published (None: a simple attribute). Most map to a
# directory field (scim.resources); those in KEPT_* have none and are kept as the client
# sent them, so that what an identity provider sends comes back. Everything else of RFC
# 7643's schemas is left out, and a client sending it gets an error rather than seeing it
# silently dropped.
_USER_ATTRIBUTES = {
    "userName": None,
    "name": {
        "givenName",
        "familyName",
        "formatted",
        "middleName",
        "honorificPrefix",
        "honorificSuffix",
    },
    "displayName": None,
    "nickName": None,
    "profileUrl": None,
    "title": None,
    "userType": None,
    "preferredLanguage": None,
    "locale": None,
    "timezone": None,
    "active": None,
    "password": None,
    "emails": {"value", "type", "primary"},
    "phoneNumbers": {"value", "type", "primary"},
    "addresses": {
        "formatted",
        "streetAddress",
        "locality",
        "region",
        "postalCode",
        "country",
        "type",
        "primary",
    },
}
_ENTERPRISE_ATTRIBUTES = {
    "employeeNumber": None,
    "costCenter": None,
    "organization": None,
    "division": None,
    "department": None,
    "manager": {"value", "$ref"},
}
# Published attributes with no directory field, kept verbatim per user (SCIM names).
KEPT_USER = (
    "nickName",
    "profileUrl",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "emails",
    "phoneNumbers",
    "addresses",
)
KEPT_NAME = ("formatted", "middleName", "honorificPrefix", "honorificSuffix")
KEPT_ENTERPRISE = ("costCenter", "division")
_GROUP_ATTRIBUTES = {"displayName": None, "members": {"value", "$ref", "type"}}


def _restricted(schema: Schema, keep: dict) -> Schema:
    attributes = []
    for attribute in schema.attributes or []:
        if attribute.name not in keep:
            continue
        sub = keep[attribute.name]
        if sub is not None:
            kept = [s for s in attribute.sub_attributes or [] if s.name in sub]
            attribute = attribute.model_copy(update={"sub_attributes": kept})
        attributes.append(attribute)
    return schema.model_copy(update={"attributes": attributes})


def _active_required(schema: Schema) -> Schema:
    """Stratus always knows whether a user may sign in, so `active` cannot be removed
    (a PATCH `remove` of it is a `mutability` error). A POST or PUT that leaves it out
    still works: the views fill in true, or the current state."""
    for attribute in schema.attributes:
        if attribute.name == "active":
            attribute.required = True
    return schema


def _location(endpoint: str) -> str:
    return f"/scim/v2{endpoint}"


@cache
def schemas() -> list[Schema]:
    published = [
        _active_required(_restricted(User.to_schema(), _USER_ATTRIBUTES)),
        _restricted(EnterpriseUser.to_schema(), _ENTERPRISE_ATTRIBUTES),
        _restricted(Group.to_schema(), _GROUP_ATTRIBUTES),
    ]
    for schema in published:
        schema.meta = Meta(resource_type="Schema", location=_location(f"/Schemas/{schema.id}"))
    return published


@cache
def resource_types() -> list[ResourceType]:
    user = ResourceType(
        id="User",
        name="User",
        description="A person in the organization's directory",
        endpoint="/Users",
        schema_=USER_SCHEMA,
        schema_extensions=[SchemaExtension(schema_=ENTERPRISE_SCHEMA, required=False)],
        meta=Meta(resource_type="ResourceType", location=_location("/ResourceTypes/User")),
    )
    group = ResourceType(
        id="Group",
        name="Group",
        description="A security group of the organization",
        endpoint="/Groups",
        schema_=GROUP_SCHEMA,
        schema_extensions=[],
        meta=Meta(resource_type="ResourceType", location=_location("/ResourceTypes/Group")),
    )
    return [user, group]


@cache
def service_provider_config() -> ServiceProviderConfig:
    return ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=True),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="Stratus SCIM key",
                description="An organization API key made for SCIM in the console "
                "(Settings → API keys): Authorization: Bearer stk_...",
                primary=True,
            )
        ],
        meta=Meta(
            resource_type="ServiceProviderConfig", location=_location("/ServiceProviderConfig")
        ),
    )


@cache
def provider() -> ScimProvider:
    """The service, as scim2-models composes it from what is published."""
    return ScimProvider.from_discovery(schemas(), resource_types(), service_provider_config())


def user_model():
    return provider().model_for("User")


def group_model():
    return provider().model_for("Group")


def enterprise_model():
    return provider().model_for(ENTERPRISE_SCHEMA)
