"""A request body becomes one 28x28 digit, or a RequestError with a 4xx and one line naming the field at fault."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from src.data.belongs import PixelStats
from src.tools.images import reading as image_rules
from src.tools.images.reading import decode_image, mnist_style
from src.tools.serve.digit_request import RequestError, digit_from_image, digit_from_json


def pixels_body(pixels) -> bytes:
    return json.dumps({"pixels": pixels}).encode()


def with_value(index: int, value) -> list:
    pixels = [0] * 784
    pixels[100] = 200  # some ink, so only the value under test is wrong
    pixels[index] = value
    return pixels


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_784_values_or_28_rows_of_28_are_the_digit_as_sent():
    digit = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    for pixels in (digit.ravel().tolist(), digit.tolist()):
        decoded = digit_from_json(pixels_body(pixels))
        assert decoded.dtype == np.uint8
        np.testing.assert_array_equal(decoded, digit)


def test_whole_numbers_written_as_floats_are_accepted():
    assert digit_from_json(pixels_body(with_value(5, 255.0)))[0, 5] == 255


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"{not json", "body: not valid JSON"),
        (b'{"pixels": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "body: JSON nested too deeply"),
        (b"[1, 2, 3]", 'body: found list; expected {"pixels"'),
        (json.dumps({"pixel": [0] * 784}).encode(), "body: found an object with keys ['pixel']"),
        (json.dumps({"pixels": "0,0,0"}).encode(), "pixels: found str"),
        (pixels_body([0] * 783), "pixels: shape [783]; expected"),
        (pixels_body([[0] * 28] * 27), "pixels: shape [27, 28]"),
        (pixels_body([[0] * 28] * 27 + [[0] * 27]), "pixels: rows of different lengths"),
        (pixels_body(with_value(783, 256)), "pixels[783]: found 256; expected a whole number 0..255"),
        (pixels_body(with_value(0, -1)), "pixels[0]: found -1"),
        (pixels_body(with_value(7, 3.5)), "pixels[7]: found 3.5"),
        (pixels_body(with_value(7, "12")), 'pixels[7]: found "12"'),
        (pixels_body(with_value(7, True)), "pixels[7]: found true"),
        (pixels_body(with_value(7, None)), "pixels[7]: found null"),
        (pixels_body(np.array(with_value(29, 300)).reshape(28, 28).tolist()), "pixels[1][1]: found 300"),
    ],
)
def test_malformed_json_is_400_naming_the_field_and_what_was_expected(body, reason):
    with pytest.raises(RequestError) as refused:
        digit_from_json(body)
    assert refused.value.status == 400
    assert reason in refused.value.reason
    assert "\n" not in refused.value.reason


@pytest.mark.parametrize("value", [0, 255])
def test_a_blank_digit_is_422_an_empty_canvas(value):
    with pytest.raises(RequestError) as refused:
        digit_from_json(pixels_body([value] * 784))
    assert refused.value.status == 422
    assert f"all 784 values are {value}" in refused.value.reason


def test_an_uploaded_image_is_made_an_mnist_digit_as_predicting_image_files_does():
    drawing = Image.new("L", (280, 280), 255)
    drawing.paste(0, (120, 40, 150, 240))  # a dark bar on white: a "1"
    data = png(drawing)
    np.testing.assert_array_equal(digit_from_image(data), mnist_style(decode_image(data, "image"), "image"))


@pytest.mark.parametrize(
    "data, status, reason",
    [
        (b"this is not an image", 400, "image: not a readable image"),
        (b"", 400, "image: empty file"),
        (png(Image.new("L", (image_rules.MAX_SIDE + 1, 8), 255)), 400, f"expected at most {image_rules.MAX_SIDE}"),
        (png(Image.new("L", (280, 280), 255)), 422, "image: no digit found"),
    ],
)
def test_unreadable_oversized_or_blank_images_are_refused_with_the_reason(data, status, reason):
    with pytest.raises(RequestError) as refused:
        digit_from_image(data)
    assert refused.value.status == status
    assert reason in refused.value.reason


MNIST_PIXELS = PixelStats(mean=33.4, ink_fraction=0.133)  # the embedded train.csv's, as its checkpoints record them


def inverted_three() -> list[int]:
    """A 3 drawn dark on a white field: the inverse of a train.csv row."""
    digit = np.full((28, 28), 255, np.uint8)
    for row in (6, 13, 20):
        digit[row : row + 3, 8:20] = 0
    digit[6:23, 17:20] = 0
    return digit.ravel().tolist()


@pytest.mark.parametrize(
    ("pixels", "reason"),
    [
        (inverted_three(), "% of the values are ink (>= 128), far from the 13% of the digits the model was trained on"),
        ([0] * 700 + [1] * 84, "every value is 0 or 1, on another scale"),
    ],
)
def test_pixels_far_from_the_training_data_are_422_and_a_request_cannot_override_it(pixels, reason):
    for body in (pixels_body(pixels), json.dumps({"pixels": pixels, "allow_unusual_pixels": True}).encode()):
        with pytest.raises(RequestError) as refused:
            digit_from_json(body, MNIST_PIXELS)
        assert refused.value.status == 422
        assert reason in refused.value.reason and "\n" not in refused.value.reason


def test_a_real_digit_passes_the_training_data_check(mnist_digits):
    images, _ = mnist_digits
    for digit in images[60_000:60_200]:  # every kind of digit, thin 1s and bold 0s alike
        np.testing.assert_array_equal(digit_from_json(pixels_body(digit.ravel().tolist()), MNIST_PIXELS), digit)


def test_an_integer_too_long_to_convert_is_a_400_not_a_server_error():
    body = b'{"pixels": [' + b"9" * 5001 + b"," + b"0," * 782 + b"0]}"
    with pytest.raises(RequestError) as refused:
        digit_from_json(body, MNIST_PIXELS)
    assert refused.value.status == 400 and "body: not valid JSON" in refused.value.reason


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=30) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=60,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        JSON_VALUES.map(lambda value: json.dumps(value).encode()),
        st.lists(JSON_VALUES, min_size=784, max_size=784).map(lambda pixels: pixels_body(pixels)),
        st.lists(st.integers(-(10**6), 10**6), min_size=784, max_size=784).map(lambda pixels: pixels_body(pixels)),
    )
)
def test_no_body_ever_gets_anything_but_a_digit_or_a_4xx_naming_the_field(body):
    try:
        digit = digit_from_json(body, MNIST_PIXELS)
    except RequestError as refused:
        assert 400 <= refused.status < 500 and "\n" not in refused.reason
        assert refused.reason.split(":")[0] in ("body", "pixels") or refused.reason.startswith("pixels[")
    else:
        assert digit.shape == (28, 28) and digit.dtype == np.uint8
