"""SCIM `filter` → a Django `Q`, through scim2-filter-parser's lexer, parser and Django
transpiler. Values only ever reach the ORM as lookup arguments, never as SQL text, and
the result is applied to a queryset already scoped to one organization. An attribute
this service does not publish is refused (the stock transpiler would silently drop
that clause and widen the result)."""

from django.core.exceptions import FieldError
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError
from scim2_filter_parser.transpilers.django_q_object import Transpiler

from .errors import ScimError
from .schemas import ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA

MAX_FILTER_LENGTH = 1000

_USER = {
    "id": "pk",
    "userName": "email",
    "externalId": "scim__external_id",
    "name.givenName": "first_name",
    "name.familyName": "last_name",
    "displayName": "display_name",
    "title": "job_title",
    "active": "scim_active",
    "meta.created": "created_at",
}
_ENTERPRISE = {
    "employeeNumber": "employee_id",
    "department": "department",
    "organization": "company_name",
    "manager.value": "scim__manager__id",
    "manager": "scim__manager__id",
}
_GROUP = {
    "id": "pk",
    "displayName": "name",
    "externalId": "scim__external_id",
    "members.value": "members__id",
    "members": "members__id",
    "meta.created": "created_at",
}
# Text fields, where "present" (`pr`) means "not empty" as well as "not null".
_TEXT = {
    "email",
    "scim__external_id",
    "first_name",
    "last_name",
    "display_name",
    "job_title",
    "employee_id",
    "department",
    "company_name",
    "name",
}


def _attr_map(core: dict, core_uri: str, extensions: dict[str, dict]) -> dict:
    """The transpiler's map: (attribute, sub-attribute, schema URI) → ORM path, each
    attribute reachable with and without its schema's URI prefix (no extension
    attribute shares a core attribute's name)."""
    mapping = {}
    for uri, attributes in [(core_uri, core), *extensions.items()]:
        for path, orm in attributes.items():
            name, _, sub = path.partition(".")
            mapping[(name, sub or None, uri)] = orm
            mapping[(name, sub or None, None)] = orm
    return mapping


USER_ATTRIBUTES = _attr_map(_USER, USER_SCHEMA, {ENTERPRISE_SCHEMA: _ENTERPRISE})
GROUP_ATTRIBUTES = _attr_map(_GROUP, GROUP_SCHEMA, {})


class _StrictTranspiler(Transpiler):
    def visit_AttrPath(self, node):
        orm = super().visit_AttrPath(node)
        if orm is None:
            path = node.attr_name + (f".{node.sub_attr.value}" if node.sub_attr else "")
            raise ScimError(400, f"The filter names an unknown attribute: {path}.", "invalidFilter")
        return orm

    def visit_AttrExpr(self, node):
        if node.value.lower() == "pr" and not hasattr(node.attr_path.attr_name, "expr"):
            orm = self.visit(node.attr_path).replace(".", "__")
            present = Q(**{f"{orm}__isnull": False})
            return present & ~Q(**{orm: ""}) if orm in _TEXT else present
        return super().visit_AttrExpr(node)


def filter_apply(queryset: QuerySet, text: str, *, attributes: dict) -> QuerySet:
    """`queryset` narrowed by the SCIM filter `text`; a bad filter is `invalidFilter`."""
    if len(text) > MAX_FILTER_LENGTH:
        raise ScimError(
            400, f"The filter is too long: at most {MAX_FILTER_LENGTH} characters.", "invalidFilter"
        )
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(text))
        if tree is None:
            raise SCIMParserError("empty filter")
        query = _StrictTranspiler(attributes).transpile(tree)
        if query is None:
            raise SCIMParserError("nothing to filter on")
        return queryset.filter(query).distinct()
    except ScimError:
        raise
    except (
        SCIMParserError,
        ValueError,
        TypeError,
        FieldError,
        DjangoValidationError,
        RecursionError,
    ) as exc:
        raise ScimError(400, f"The filter is not valid: {_reason(exc)}", "invalidFilter") from exc


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]
