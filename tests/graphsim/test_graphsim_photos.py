"""Profile photos in graphsim (graph-facts §9): GET/PUT/DELETE photo/$value, the
metadata, 404 ImageNotFound, Microsoft's 4 MB limit, the Outlook bucket and the
request log's write count."""

from __future__ import annotations

import io

from PIL import Image

NOT_FOUND = (
    "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown."
)


def image(kind: str = "JPEG", size=(120, 120), colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=kind)
    return out.getvalue()


def put(world, user_id: str, data: bytes, content_type: str = "image/jpeg"):
    return world.call(
        "PUT", f"users/{user_id}/photo/$value", data=data, headers={"Content-Type": content_type}
    )


def test_a_user_without_a_photo_answers_404_image_not_found_with_microsofts_body(world):
    user = world.create_user("nophoto")
    for path in (f"users/{user['id']}/photo/$value", f"users/{user['id']}/photo"):
        response = world.get(path)
        assert response.status_code == 404
        error = response.json()["error"]
        assert (error["code"], error["message"]) == ("ImageNotFound", NOT_FOUND)


def test_put_then_get_returns_the_bytes_its_type_and_metadata(world):
    user = world.create_user("withphoto")
    data = image("PNG", size=(240, 200))
    assert put(world, user["id"], data, "image/png").status_code == 204
    value = world.get(f"users/{user['userPrincipalName']}/photo/$value")
    assert value.status_code == 200
    assert value.content == data and value.headers["Content-Type"].startswith("image/png")
    meta = world.get(f"users/{user['id']}/photo").json()
    assert meta["@odata.mediaContentType"] == "image/png"
    assert (meta["id"], meta["width"], meta["height"]) == ("240x200", 240, 200)
    assert meta["@odata.mediaEtag"].startswith('"')
    assert world.sim.control.user_photo(world.tid, user["id"]) == data


def test_delete_removes_the_photo_and_a_second_delete_is_404(world):
    user = world.create_user("deletephoto")
    assert put(world, user["id"], image()).status_code == 204
    assert world.delete(f"users/{user['id']}/photo/$value").status_code == 204
    assert world.get(f"users/{user['id']}/photo/$value").status_code == 404
    assert world.delete(f"users/{user['id']}/photo/$value").status_code == 404


def test_put_refuses_what_microsoft_refuses_and_keeps_the_old_photo(world):
    user = world.create_user("badphoto")
    good = image()
    assert put(world, user["id"], good).status_code == 204
    too_big = b"\xff\xd8\xff" + b"0" * (4 * 1024 * 1024)
    pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF"
    gif = io.BytesIO()
    Image.new("RGB", (100, 100)).save(gif, format="GIF")
    cases = {
        "ImageTooLarge": too_big,
        "ImageTypeNotSupported": pdf,
        "ValidationWidthTooSmall": image(size=(23, 23)),
        "ImageNotProvided": b"",
    }
    cases["ImageTypeNotSupported "] = gif.getvalue()
    for code, data in cases.items():
        response = put(world, user["id"], data)
        assert response.status_code == 400, code
        assert response.json()["error"]["code"] == code.strip()
    assert world.get(f"users/{user['id']}/photo/$value").content == good


def test_photo_writes_count_as_writes_and_reads_need_read_permission(world):
    user = world.create_user("countphoto")
    before = world.sim.control.counters(world.tid)["writes"]
    assert put(world, user["id"], image()).status_code == 204
    assert world.sim.control.counters(world.tid)["writes"] == before + 1
    log = world.sim.control.request_log(world.tid)
    assert [row["write"] for row in log if row["path"].endswith("/photo/$value")] == [1]
    narrow = world.app_token(permissions=["Organization.Read.All"])
    assert world.get(f"users/{user['id']}/photo/$value", token=narrow).status_code == 403


def test_photo_calls_use_the_outlook_bucket_of_each_mailbox(world):
    first, second = world.create_user("bucket1"), world.create_user("bucket2")
    put(world, first["id"], image())
    world.sim.control.set_throttling(world.tid, True, outlook_limit=3)
    statuses = [world.get(f"users/{first['id']}/photo").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    throttled = world.get(f"users/{first['id']}/photo")
    assert throttled.headers["Retry-After"]
    assert world.get(f"users/{second['id']}/photo").status_code == 404  # another mailbox
    # Outlook calls do not spend the identity resource units.
    assert world.get("users").status_code == 200


def test_generate_gives_the_configured_share_of_users_a_photo(make_world):
    world = make_world(users=200, photoShare=0.25, seed=7)
    users = world.sim.control.users(world.tid)
    with_photo = [u for u in users if u["hasPhoto"]]
    assert 25 <= len(with_photo) <= 75
    sample = with_photo[0]
    response = world.get(f"users/{sample['id']}/photo/$value")
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).size == (96, 96)
