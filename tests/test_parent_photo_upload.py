"""Phone photos for the parent's ID check (issue 27.5): a typical photo of several MB is
accepted, checked as a small copy without metadata (no GPS position), and never stored; a file
too large or not an image gets a clear error on the same form, which keeps what was typed."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import pytest
import sqlite_utils
from cloud_helpers import db_for, dump_tables
from flask.testing import FlaskClient
from parent_web_helpers import add_child, choose, fast_app, signup, submit
from photo_helpers import CANARY, location_in, phone_exif, phone_photo
from PIL import Image

from cloud.consent import active_purposes
from cloud.parent_web.uploads import CHECK_SIDE, UploadProblem, heic_supported, photo_for_check
from cloud.server_worker import MAX_BODY_BYTES, Scan, scan_request
from cloud.upload_limits import MAX_PHOTO_BYTES, MAX_UPLOAD_BODY_BYTES

MB = 1024 * 1024


@pytest.fixture(scope="module")
def photo() -> bytes:
    data = phone_photo()
    assert 3.5 * MB < len(data) < 5 * MB, len(data)
    return data



def _at_verify(client: FlaskClient, method: str = "government_id") -> int:
    signup(client, f"{method}@example.org")
    child_id = add_child(client, "Noor")
    assert choose(client, child_id, {"core"}, method).status_code == 302
    return child_id


def _upload(client: FlaskClient, child_id: int, files: dict[str, bytes],
            **fields: str):  # type: ignore[no-untyped-def]
    data: dict[str, object] = {name: (io.BytesIO(body), f"{name}.jpg")
                               for name, body in files.items()}
    return submit(client, f"/parent/children/{child_id}/verify", {**data, **fields},
                  content_type="multipart/form-data")


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))
                    .split())


def test_the_check_sees_a_small_copy_without_location(photo: bytes) -> None:
    assert location_in(photo) == ["description", "gps", "make"]
    checked = photo_for_check(bytearray(photo), "your photo ID")
    assert (checked.kind, checked.width, checked.height) == ("JPEG", 4000, 3000)
    assert max(checked.copy_width, checked.copy_height) <= CHECK_SIDE
    assert len(checked.copy) < len(photo) // 8
    assert location_in(checked.copy) == []
    assert b"Exif" not in checked.copy[:4096]


def test_negative_control_a_copy_that_keeps_the_exif_is_caught(photo: bytes) -> None:
    with Image.open(io.BytesIO(photo)) as image:
        image.thumbnail((CHECK_SIDE, CHECK_SIDE))
        out = io.BytesIO()
        image.save(out, "JPEG", exif=image.getexif())  # the usual mistake: pass the EXIF on
    assert location_in(out.getvalue()) == ["description", "gps", "make"]


def test_a_phone_photo_is_turned_the_way_it_was_held() -> None:
    # Stored landscape, but the phone was held upright: the ID check sees a portrait photo.
    upright = photo_for_check(bytearray(phone_photo((1200, 900), orientation=6)), "x")
    assert (upright.width, upright.height) == (900, 1200)
    assert (upright.copy_width, upright.copy_height) == (900, 1200)


def test_a_four_megabyte_phone_photo_is_accepted_and_nothing_of_it_stored(
        tmp_path: Path, photo: bytes) -> None:
    app = fast_app(tmp_path)
    client = app.test_client()
    child_id = _at_verify(client)
    db: sqlite_utils.Database = db_for(app)
    answer = _upload(client, child_id, {"id_image": photo})
    assert answer.status_code == 302, _text(answer)
    assert active_purposes(db, child_id, 1) == {"core"}
    assert CANARY not in repr(dump_tables(db)) and "Examplephone" not in repr(dump_tables(db))
    db_path = Path(app.config["TEDDY"].db_path)
    for path in db_path.parent.iterdir():  # no copy beside the database, in none of its pages
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
    page = client.get(f"/parent/children/{child_id}").get_data(as_text=True)
    assert "JPEG, 4000×3000 pixels" in page and "without its location" in page


def test_a_thirty_megabyte_upload_gets_the_form_back_with_a_clear_error(
        tmp_path: Path) -> None:
    app = fast_app(tmp_path)
    client = app.test_client()
    child_id = _at_verify(client, "signed_form")
    db = db_for(app)
    before = dump_tables(db)
    huge = b"\xff\xd8\xff\xe0" + bytes(30 * MB)
    answer = _upload(client, child_id, {"signed_form": huge}, signer_name="Pat Example")
    assert answer.status_code == 400
    words = _text(answer)
    assert "The file for the signed form is 30 MB; files up to 15 MB are accepted." in words
    page = answer.get_data(as_text=True)
    assert 'id="error-summary"' in page and 'name="signed_form"' in page
    assert 'value="Pat Example"' in page  # what was typed is kept
    assert dump_tables(db) == before


def test_a_request_larger_than_any_upload_is_sent_back_to_the_form(tmp_path: Path) -> None:
    app = fast_app(tmp_path)
    client = app.test_client()
    child_id = _at_verify(client)
    answer = _upload(client, child_id, {"id_image": bytes(MAX_UPLOAD_BODY_BYTES + 1)})
    assert answer.status_code == 303
    form = client.get(answer.headers["Location"])
    assert form.status_code == 400 and "files up to 15 MB are accepted" in _text(form)
    assert 'name="id_image"' in form.get_data(as_text=True)
    # Negative control: the same form without the flag shows no error.
    plain = client.get(f"/parent/children/{child_id}/verify")
    assert plain.status_code == 200 and "error-summary" not in plain.get_data(as_text=True)


def test_not_a_photo_gets_a_clear_error_on_the_form(tmp_path: Path) -> None:
    client = fast_app(tmp_path).test_client()
    child_id = _at_verify(client)
    for junk in (b"%PDF-1.4 not an image" * 100, b"\xff\xd8\xff" + b"\x00" * 5000):
        answer = _upload(client, child_id, {"id_image": junk})
        assert answer.status_code == 400
        assert "is not a photo we can read: use a JPEG, PNG" in _text(answer)
        assert 'name="id_image"' in answer.get_data(as_text=True)
    with pytest.raises(UploadProblem, match="larger than any camera"):
        out = io.BytesIO()
        Image.new("L", (13000, 10)).save(out, "PNG")
        photo_for_check(bytearray(out.getvalue()), "x")


@pytest.mark.skipif(not heic_supported(), reason="pillow-heif is not installed")
def test_an_iphone_heic_photo_is_accepted_without_its_location() -> None:
    import pillow_heif

    # Small and smooth, so the HEVC encoder (slow on noise) takes well under a second.
    picture = Image.linear_gradient("L").resize((640, 480)).convert("RGB")
    out = io.BytesIO()
    pillow_heif.from_pillow(picture).save(out, quality=50, exif=phone_exif().tobytes())
    assert CANARY.encode() in out.getvalue()
    checked = photo_for_check(bytearray(out.getvalue()), "your photo ID")
    assert (checked.kind, checked.width, checked.height) == ("HEIC", 640, 480)
    assert location_in(checked.copy) == []


@pytest.mark.parametrize(("path", "size", "state"), [
    (b"/parent/children/7/verify", 4 * MB, Scan.INCOMPLETE),
    (b"/parent/children/7/verify", MAX_UPLOAD_BODY_BYTES + 1, Scan.BODY_TOO_LARGE),
    # Negative controls: every other address keeps the small limit.
    (b"/api/v1/intent", MAX_BODY_BYTES + 1, Scan.BODY_TOO_LARGE),
    (b"/parent/children/7/consent", 4 * MB, Scan.BODY_TOO_LARGE),
])
def test_the_server_loop_lets_only_the_upload_form_be_large(path: bytes, size: int,
                                                             state: Scan) -> None:
    head = b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size
    assert scan_request(head) is state


def test_the_limits_fit_together() -> None:
    # Two photos (a face match) fit in one request; one photo never exceeds it alone.
    assert 2 * MAX_PHOTO_BYTES + MB <= MAX_UPLOAD_BODY_BYTES
