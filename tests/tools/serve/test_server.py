"""``python -m src.tools serve`` as a user starts it: answers like predict does, refuses bad input with a 4xx and one
line naming the field, and goes on serving."""

from __future__ import annotations

import io
import json
import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from benchmarks.load_client import multipart_upload, page_like_png
from src.tools.images import reading as image_rules
from src.tools.images.reading import decode_image, mnist_style
from src.tools.predictor import load_predictor

pytestmark = pytest.mark.slow  # they share one server started in a subprocess


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict


def post(url: str, body: bytes, content_type: str) -> Reply:
    request = urllib.request.Request(f"{url}/predict", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return Reply(reply.status, json.loads(reply.read()))
    except urllib.error.HTTPError as refused:
        return Reply(refused.code, json.loads(refused.read()))


def post_pixels(url: str, digit: np.ndarray) -> Reply:
    return post(url, json.dumps({"pixels": digit.ravel().tolist()}).encode(), "application/json")


def post_file(url: str, data: bytes, field: str = "image") -> Reply:
    upload = multipart_upload(data, field)
    return post(url, upload.body, upload.content_type)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def two_sevens() -> Image.Image:
    """Two 7s side by side on a white 560x280 pad, drawn with the page's 18-pixel pen: one image, two digits."""
    pad = Image.new("RGB", (560, 280), "white")
    for left in (60, 320):
        ImageDraw.Draw(pad).line([(left, 60), (left + 170, 60), (left + 70, 230)], fill="black", width=18)
    return pad


@pytest.fixture(scope="module")
def local_predictor(mnist_checkpoint):
    return load_predictor(str(mnist_checkpoint))


def test_json_pixels_get_the_label_and_probabilities_that_predict_gives(server_url, unseen_digits, local_predictor):
    digits = unseen_digits[0][:16]
    expected = local_predictor(digits)
    for digit, probabilities in zip(digits, expected, strict=True):
        reply = post_pixels(server_url, digit)
        assert reply.status == 200
        assert reply.body["label"] == int(np.argmax(probabilities))
        np.testing.assert_allclose(reply.body["probabilities"], probabilities, atol=0.02)  # bf16, other batch sizes
        assert sum(reply.body["probabilities"]) == pytest.approx(1, abs=1e-3)


def test_an_uploaded_picture_is_read_the_mnist_way_and_mostly_right(server_url, unseen_digits, local_predictor):
    images, labels = unseen_digits[0][:40], unseen_digits[1][:40]
    pictures = [page_like_png(image) for image in images]  # dark on white, 10x larger: not MNIST-shaped as sent
    served = [post_file(server_url, picture) for picture in pictures]
    local = local_predictor(np.stack([mnist_style(decode_image(picture)) for picture in pictures])).argmax(1)
    assert [reply.status for reply in served] == [200] * len(images)
    assert [reply.body["label"] for reply in served] == local.tolist()
    assert np.mean(local == labels) >= 0.85  # a 2-epoch model on 8,000 rows; the point is the preprocessing fits


BAD_REQUESTS = {
    "not an image": (multipart_upload(b"GIF89a but not really"), 400, "image: not a readable image"),
    "image over the byte limit": (multipart_upload(b"\0" * (7 * 1024 * 1024)), 413, "body: "),
    "image over the side limit": (
        multipart_upload(png(Image.new("L", (image_rules.MAX_SIDE + 1, 4), 255))),
        400,
        f"at most {image_rules.MAX_SIDE} a side",
    ),
    "empty canvas": (multipart_upload(png(Image.new("RGB", (280, 280), "white"))), 422, "image: no digit found"),
    "two digits side by side": (multipart_upload(png(two_sevens())), 422, "image: no single digit: 2 digit-sized"),
    "upload under another field name": (multipart_upload(b"x", field="file"), 400, "image: missing"),
    "not JSON": ((b"pixels=1,2,3", "application/json"), 400, "body: not valid JSON"),
    "wrong JSON shape": ((json.dumps({"pixels": [[0] * 28] * 27}).encode(), "application/json"), 400, "pixels: shape"),
    "pixel out of range": (
        (json.dumps({"pixels": [0] * 300 + [256] + [0] * 483}).encode(), "application/json"),
        400,
        "pixels[300]: found 256; expected a whole number 0..255",
    ),
    "all-zero pixels": ((json.dumps({"pixels": [0] * 784}).encode(), "application/json"), 422, "pixels: all 784"),
    "a digit dark on white, the inverse of a train.csv row": (
        (json.dumps({"pixels": [255] * 600 + [0] * 184}).encode(), "application/json"),
        422,
        "of the values are ink (>= 128), far from the",
    ),
    "an integer too long to convert": (
        (b'{"pixels": [' + b"9" * 5001 + b"," + b"0," * 782 + b"0]}", "application/json"),
        400,
        "body: not valid JSON",
    ),
    "another content type": ((b"1,2,3", "text/csv"), 415, "Content-Type: text/csv"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_is_a_4xx_with_one_line_naming_the_field_and_serving_goes_on(case, server_url, unseen_digits):
    payload, status, reason = BAD_REQUESTS[case]
    body, content_type = (payload.body, payload.content_type) if hasattr(payload, "body") else payload
    reply = post(server_url, body, content_type)
    assert reply.status == status
    assert reason in reply.body["detail"]
    assert "\n" not in reply.body["detail"]
    assert post_pixels(server_url, unseen_digits[0][0]).status == 200


def test_bad_requests_never_fail_the_good_ones_they_arrive_with(server_url, unseen_digits, local_predictor):
    digits = unseen_digits[0][:48]
    expected = local_predictor(digits).argmax(1).tolist()
    bad = json.dumps({"pixels": [999] * 784}).encode()

    def send(i: int) -> Reply:
        return post(server_url, bad, "application/json") if i % 4 == 3 else post_pixels(server_url, digits[i])

    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(send, range(len(digits))))
    for i, reply in enumerate(replies):
        if i % 4 == 3:
            assert reply.status == 400
        else:
            assert (reply.status, reply.body["label"]) == (200, expected[i])


def test_it_listens_on_127_0_0_1_only_by_default(server_url):
    port = int(server_url.rsplit(":", 1)[1])
    table = Path("/proc/net/tcp")
    if not table.exists():
        pytest.skip("no /proc/net/tcp to read listening sockets from")
    listening = [line.split() for line in table.read_text().splitlines()[1:] if line.split()[3] == "0A"]
    addresses = {fields[1].split(":")[0] for fields in listening if int(fields[1].split(":")[1], 16) == port}
    assert addresses == {"0100007F"}  # 127.0.0.1, little-endian hex
    assert not any(int(line.split()[1].split(":")[-1], 16) == port for line in _tcp6_listening())


def _tcp6_listening() -> list[str]:
    table = Path("/proc/net/tcp6")
    lines = table.read_text().splitlines()[1:] if table.exists() else []
    return [line for line in lines if line.split()[3] == "0A"]


def test_the_page_and_its_files_come_from_the_server_itself(server_url):
    with urllib.request.urlopen(f"{server_url}/", timeout=30) as reply:
        page = reply.read().decode()
    assert "<canvas" in page
    assert re.findall(r'(?:src|href)="([^"]*)"', page) == ["static/style.css", "static/draw.js"]
    assert "http:" not in page and "https:" not in page
    for name in ("static/draw.js", "static/style.css"):
        with urllib.request.urlopen(f"{server_url}/{name}", timeout=30) as reply:
            text = reply.read().decode()
        assert reply.status == 200
        assert "https:" not in text and "@import" not in text and "url(" not in text
