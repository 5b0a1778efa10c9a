import re

from django.core.management import call_command
from drf_spectacular.validation import validate_schema


def test_the_schema_is_valid_openapi_3(client, db):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)
    assert "/api/v1/users/{user_id}/password" in schema["paths"]
    assert "/api/v1/events" in schema["paths"]


def test_the_schema_generates_without_warnings(tmp_path):
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )


def test_the_schema_documents_the_error_shape_and_never_a_password_in_output(client, db):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    assert set(components["Error"]["properties"]) == {"error"}
    assert "password" not in components["User"]["properties"]
    assert components["UserCreateInput"]["properties"]["password"]["writeOnly"] is True
    assert "one shape" in schema["info"]["description"]


def test_the_docs_page_lists_every_operation_and_needs_no_internet(client, db):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path, operations in schema["paths"].items():
        for method in operations:
            assert f'data-method="{method.upper()}" data-path="{path}"' in page
    external = re.findall(r'(?:src|href)="(https?:)?//', page)
    assert external == []
    assert "cdn" not in page.lower()


def _schema(client):
    return client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def test_every_paged_list_is_documented_as_a_page_not_an_array(client, db):
    schema = _schema(client)
    for path in ("/api/v1/m365/tenants", "/api/v1/m365/tenants/{tenant_id}/users"):
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        page = schema["components"]["schemas"][ok["schema"]["$ref"].rsplit("/", 1)[1]]
        assert {"count", "next", "previous", "results"} <= set(page["properties"])


def test_every_operation_documents_its_errors(client, db):
    for path, operations in _schema(client)["paths"].items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            assert {"401", "403"} <= documented, (method, path)
            if "{" in path or method == "get" and "count" in str(operation["responses"]):
                assert "404" in documented, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= documented, (method, path)
