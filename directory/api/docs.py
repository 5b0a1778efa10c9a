"""The API's documentation page: rendered on the server from the same OpenAPI schema
that `/api/v1/schema/` serves, with a small "try it" form. It ships no CDN assets, so
it works on a machine with no internet access."""

import functools

from django.views.generic import TemplateView
from drf_spectacular.generators import SchemaGenerator

METHODS = ("get", "post", "put", "patch", "delete")


@functools.cache
def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


class ApiDocsView(TemplateView):
    template_name = "api/docs.html"

    def get_context_data(self, **kwargs):
        schema = _schema()
        components = schema.get("components", {}).get("schemas", {})
        return {
            **super().get_context_data(**kwargs),
            "info": schema["info"],
            "prefix": "/api/v1",
            "sections": _sections(schema, components),
        }


def _sections(schema: dict, components: dict) -> list[dict]:
    """Operations grouped by tag, in the order the schema lists them."""
    sections: dict[str, list[dict]] = {}
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                operation = _operation(path, method, item[method], components)
                sections.setdefault(operation["tag"], []).append(operation)
    return [{"tag": tag, "operations": ops} for tag, ops in sections.items()]


def _operation(path: str, method: str, op: dict, components: dict) -> dict:
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    return {
        "id": op["operationId"],
        "tag": (op.get("tags") or ["other"])[0],
        "method": method.upper(),
        "path": path,
        "summary": op.get("summary", ""),
        "description": op.get("description", ""),
        "parameters": [
            {
                "name": p["name"],
                "in": p["in"],
                "required": p.get("required", False),
                "type": _type(p.get("schema", {}), components),
                "description": p.get("description", ""),
            }
            for p in op.get("parameters", [])
        ],
        "path_parameters": [p["name"] for p in op.get("parameters", []) if p["in"] == "path"],
        "body": _fields(body.get("schema"), components) if body else [],
        "responses": [
            {
                "status": code,
                "description": r.get("description", ""),
                "schema": _ref_name(r.get("content", {}).get("application/json", {}).get("schema")),
            }
            for code, r in op.get("responses", {}).items()
        ],
    }


def _resolve(schema: dict | None, components: dict) -> dict:
    if schema and "$ref" in schema:
        return components.get(schema["$ref"].rsplit("/", 1)[-1], {})
    return schema or {}


def _ref_name(schema: dict | None) -> str:
    return schema["$ref"].rsplit("/", 1)[-1] if schema and "$ref" in schema else ""


def _fields(schema: dict | None, components: dict) -> list[dict]:
    schema = _resolve(schema, components)
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "type": _type(prop, components),
            "required": name in required,
            "description": prop.get("description", ""),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _type(schema: dict, components: dict) -> str:
    if "$ref" in schema:
        resolved = _resolve(schema, components)
        if "enum" in resolved:
            return "one of: " + ", ".join(str(v) for v in resolved["enum"] if v)
        return _ref_name(schema)
    if "allOf" in schema:
        return " & ".join(_type(s, components) for s in schema["allOf"])
    if "oneOf" in schema:
        return " | ".join(_type(s, components) for s in schema["oneOf"])
    if "enum" in schema:
        return "one of: " + ", ".join(str(v) for v in schema["enum"] if v)
    kind = schema.get("type", "object")
    if kind == "array":
        kind = f"array of {_type(schema.get('items', {}), components)}"
    extras = [schema["format"]] if "format" in schema else []
    if "maxLength" in schema:
        extras.append(f"max {schema['maxLength']}")
    return f"{kind} ({', '.join(extras)})" if extras else kind
