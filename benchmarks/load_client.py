"""The load test's client: bounded bursts of concurrent requests to one URL, timed one by one."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import time
from dataclasses import dataclass

import aiohttp
import numpy as np
from PIL import Image

BOUNDARY = "digit-load-test"


@dataclass(frozen=True)
class Payload:
    """One request body, encoded before the clock starts, and its Content-Type."""

    body: bytes
    content_type: str


def page_like_png(image: np.ndarray) -> bytes:
    """A PNG like the page sends: the uint8 ``[28, 28]`` digit dark on white, scaled to the pad's 280x280."""
    png = io.BytesIO()
    Image.fromarray(255 - image).resize((280, 280), Image.Resampling.BILINEAR).save(png, format="PNG")
    return png.getvalue()


def multipart_upload(data: bytes, field: str = "image", filename: str = "digit.png") -> Payload:
    """A ``multipart/form-data`` body with one file field.

    Encoded by hand, once: aiohttp's FormData would re-encode every request on the client's share of the 2 cores.
    """
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
    head += "Content-Type: application/octet-stream\r\n\r\n"
    body = head.encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()
    return Payload(body, f"multipart/form-data; boundary={BOUNDARY}")


def image_payloads(images: np.ndarray) -> list[Payload]:
    """Uploads of ``page_like_png`` digits, one per image."""
    return [multipart_upload(page_like_png(image)) for image in images]


def pixel_payloads(images: np.ndarray) -> list[Payload]:
    """``{"pixels": [784 integers]}`` bodies, one per digit."""
    return [Payload(json.dumps({"pixels": image.ravel().tolist()}).encode(), "application/json") for image in images]


def send_burst(url: str, payloads: list[Payload], requests: int, clients: int, time_limit: float) -> dict:
    """Send ``requests`` POSTs (payloads in turn) from ``clients`` concurrent connections; stop at ``time_limit`` s.

    A failure is anything but a 200 whose JSON has a ``label``, or a request not sent in time. Latencies are per
    request, as the client sees them; the rate is requests answered per second of the burst's wall time.
    """
    return asyncio.run(_burst(url, payloads, requests, clients, time_limit))


async def _burst(url: str, payloads: list[Payload], requests: int, clients: int, time_limit: float) -> dict:
    latencies: list[float] = []
    failures: list[str] = []
    numbers = itertools.count()
    deadline = time.monotonic() + time_limit
    timeout = aiohttp.ClientTimeout(total=30)

    async def client(session: aiohttp.ClientSession) -> None:
        while (number := next(numbers)) < requests and time.monotonic() < deadline:
            payload = payloads[number % len(payloads)]
            start = time.perf_counter()
            try:
                async with session.post(url, data=payload.body, headers={"Content-Type": payload.content_type}) as r:
                    answer = await r.read()
                    ok = r.status == 200 and "label" in json.loads(answer)
                    problem = f"{r.status}: {answer[:200]!r}"
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as err:
                ok, problem = False, f"{type(err).__name__}: {err}"
            latencies.append(time.perf_counter() - start)
            if not ok:
                failures.append(problem)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        wall = time.perf_counter() - start
    unsent = requests - len(latencies)
    milliseconds = np.array(latencies) * 1000
    return {
        "requests": requests,
        "clients": clients,
        "failures": len(failures) + unsent,
        "unsent": unsent,
        "failure_examples": failures[:5],
        "requests_per_s": len(latencies) / wall,
        "p50_ms": float(np.percentile(milliseconds, 50)),
        "p99_ms": float(np.percentile(milliseconds, 99)),
        "mean_ms": float(milliseconds.mean()),
        "wall_s": wall,
    }
