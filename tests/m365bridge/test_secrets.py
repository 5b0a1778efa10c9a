"""No secret (client secret, access or refresh token, authorization code, PKCE verifier)
appears in a log line, an event or an API/console response."""

import json
import logging

from audit.models import Event
from directory import encryption
from m365bridge import services
from m365bridge.models import Tenant

from .conftest import sign_in_at_microsoft, tenant_pk_from


def test_secrets_appear_in_no_log_line_event_or_response(
    client, alice, m365, ms_tenant, stratus_app, caplog
):
    caplog.set_level(logging.DEBUG)
    client.force_login(alice)
    bodies = []
    started = client.post("/console/m365/connect/", {"mode": "delegated"})
    verifier = client.session["m365_connect"][next(iter(client.session["m365_connect"]))]["flow"][
        "code_verifier"
    ]
    params = sign_in_at_microsoft(
        m365, started["Location"], login=ms_tenant["admin"], password=ms_tenant["password"]
    )
    done = client.get("/console/m365/callback/", params)
    tenant = Tenant.objects.get(pk=tenant_pk_from(done))
    services.tenant_refresh(tenant=tenant)
    for url in (
        "/console/m365/",
        f"/console/m365/{tenant.pk}/",
        "/api/v1/m365/tenants",
        f"/api/v1/m365/tenants/{tenant.pk}",
    ):
        response = client.get(url)
        assert response.status_code == 200
        bodies.append(response.content.decode())
    bodies.append(client.post(f"/api/v1/m365/tenants/{tenant.pk}/reauthorize").content.decode())

    cache = json.loads(encryption.decrypt(tenant.token_cache_encrypted))
    secrets = [stratus_app["secret"], params["code"], verifier, ms_tenant["password"]]
    secrets += [
        item["secret"]
        for kind in ("AccessToken", "RefreshToken", "IdToken")
        for item in cache.get(kind, {}).values()
    ]
    assert len(secrets) >= 7
    events = json.dumps(
        [
            {"details": e.details, "labels": [e.target_label, e.tenant_label]}
            for e in Event.objects.all()
        ]
    )
    haystacks = {
        "logs": caplog.text,
        "events": events,
        "responses": "\n".join(bodies),
        "token column": tenant.token_cache_encrypted,
    }
    for name, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into the {name}"
