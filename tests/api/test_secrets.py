"""No API response carries a password, a password hash or an API key secret."""

from directory.models import ApiKey, User

from .helpers import key_client

PASSWORD_SENT = "Secret-Horse-Battery-91"


def test_no_response_contains_a_password_a_hash_or_the_key(alice_key, bob, engineers):
    key, secret = alice_key
    api = key_client(secret)
    responses = [
        api.post(
            "/api/v1/users",
            {"email": "dana@acme.example", "password": PASSWORD_SENT},
            format="json",
        ),
        api.post(
            "/api/v1/users", {"email": "bad@acme.example", "password": "Weak-pass"}, format="json"
        ),
        api.post(f"/api/v1/users/{bob.pk}/password", {"password": PASSWORD_SENT}, format="json"),
        api.post(
            f"/api/v1/users/{bob.pk}/password", {"password": PASSWORD_SENT}, format="json"
        ),  # refused: reused
        api.post(f"/api/v1/groups/{engineers.pk}/members/{bob.pk}"),
        api.get("/api/v1/users"),
        api.get(f"/api/v1/users/{bob.pk}"),
        api.get(f"/api/v1/groups/{engineers.pk}/members"),
        api.get("/api/v1/events", {"page_size": 500}),
        key_client(secret + "x").get("/api/v1/users"),
    ]
    hashes = [u.password for u in User.objects.all()] + [ApiKey.objects.get(pk=key.pk).key_hash]
    for response in responses:
        text = response.content.decode()
        for needle in [PASSWORD_SENT, "Weak-pass", secret, *hashes, "argon2", "key_hash"]:
            assert needle not in text, (response.request["PATH_INFO"], needle)
    assert [r.status_code for r in responses[:4]] == [201, 400, 204, 400]
