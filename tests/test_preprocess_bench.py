"""``benchmarks.preprocess`` (part of ``make bench``): what reading a 280x280 upload and a 4000x3000 phone photo
costs per image. The figures are not checked as speeds here; only that they are what they say."""

from __future__ import annotations

import io
import statistics

import numpy as np
import pytest
from PIL import Image

from benchmarks import preprocess
from src.data import embedded
from src.tools.images.reading import mnist_style


@pytest.mark.slow
def test_an_upload_and_a_phone_photo_are_read_and_timed_per_image():
    figures = preprocess.measure_preprocessing(repeats=3)
    for name in ("upload_280x280_png", "phone_photo_4000x3000_jpeg"):
        times = figures["raw_ms"][name]
        assert len(times) == 3 and min(times) > 0
        assert figures[f"{name}_ms"] == statistics.median(times)
    line = preprocess.format_preprocessing(figures)
    assert "280x280 PNG upload" in line and "4000x3000 phone photo" in line


@pytest.mark.slow
def test_the_phone_photo_is_a_4000x3000_colour_jpeg_of_its_digit():
    digit = embedded.load()[0][60_000].numpy()
    photo = Image.open(io.BytesIO(preprocess.phone_photo(digit)))
    assert (photo.format, photo.size, photo.mode) == ("JPEG", (4000, 3000), "RGB")
    assert np.abs(mnist_style(photo).astype(float) - mnist_style(Image.fromarray(digit))).mean() < 12
