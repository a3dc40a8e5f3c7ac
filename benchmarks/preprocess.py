"""What reading an image costs per image, part of ``python -m benchmarks.speed``: from the file's bytes to the 28x28
digit the model sees (decoding, finding the digit, MNIST's recipe), for an upload as the draw page sends it (a
280x280 PNG) and for a 12-megapixel phone photo read from disk (a 4000x3000 JPEG). Each figure is the median of
several runs, in milliseconds.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops

from benchmarks.load_client import page_like_png
from benchmarks.pages import coverage, encoded
from src.data import embedded
from src.tools.images.reading import decode_image, mnist_style, read_image_file

UPLOADS = 50  # uploads per run: one is too short to time alone
PHOTO_SIZE = (4000, 3000)


def phone_photo(digit: np.ndarray) -> bytes:
    """A 4000x3000 colour JPEG (quality 90, as phones save them): grainy, unevenly lit cream paper with the digit
    in dark blue about a third of the photo tall. Drawn at a quarter of the size, scaled up and grained by PIL."""
    width, height = PHOTO_SIZE
    ink = np.zeros((height // 4, width // 4), np.float32)
    ink[225:505, 375:655] = coverage(digit, 10)  # the 28-pixel field, 1120 pixels wide at full size
    light = np.linspace(1.0, 0.7, width // 4, dtype=np.float32)[None, :, None]
    pixels = np.array([240, 232, 215], np.float32) * light * (1 - ink[..., None] * np.float32(0.8))
    photo = Image.fromarray(pixels.astype(np.uint8)).resize(PHOTO_SIZE, Image.Resampling.BICUBIC)
    grain = Image.merge("RGB", [Image.effect_noise(PHOTO_SIZE, 10)] * 3)  # centred on 128
    return encoded(ImageChops.add(photo, grain, 1.0, -128), "JPEG", quality=90)


def median_ms(run, repeats: int, per_run: int = 1) -> tuple[float, list[float]]:
    """Median milliseconds per image over ``repeats`` runs of ``run`` (each handling ``per_run`` images)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000 / per_run)
    return statistics.median(times), times


def measure_preprocessing(repeats: int) -> dict:
    """Milliseconds per image, upload and phone photo, after one untimed run of each."""
    digits = embedded.load()[0][60_000 : 60_000 + UPLOADS].numpy()  # MNIST's own test digits
    uploads = [page_like_png(digit) for digit in digits]

    def read_uploads() -> None:
        for data in uploads:
            mnist_style(decode_image(data))

    with tempfile.TemporaryDirectory(prefix="preprocess-") as work:
        photo = Path(work, "IMG_0001.jpg")
        photo.write_bytes(phone_photo(digits[0]))
        read_uploads()
        mnist_style(read_image_file(photo))
        upload_ms, upload_times = median_ms(read_uploads, repeats, UPLOADS)
        photo_ms, photo_times = median_ms(lambda: mnist_style(read_image_file(photo)), repeats)
        photo_bytes = photo.stat().st_size
    return {
        "upload_280x280_png_ms": upload_ms,
        "phone_photo_4000x3000_jpeg_ms": photo_ms,
        "phone_photo_bytes": photo_bytes,
        "repeats": repeats,
        "raw_ms": {"upload_280x280_png": upload_times, "phone_photo_4000x3000_jpeg": photo_times},
    }


def format_preprocessing(figures: dict) -> str:
    """Two lines: what an upload and a phone photo cost to read, per image."""
    return (
        f"reading an image (decode, find the digit, MNIST's recipe), median of {figures['repeats']} runs: "
        f"280x280 PNG upload {figures['upload_280x280_png_ms']:.2f} ms; "
        f"4000x3000 phone photo ({figures['phone_photo_bytes'] / 1e6:.1f} MB JPEG) from disk "
        f"{figures['phone_photo_4000x3000_jpeg_ms']:.1f} ms"
    )
