"""Checks every ``POST /predict`` in the HTTP process, before LitServe queues it for a batch.

Hand-written because LitServe decodes requests inside the batch, where one bad request fails every request batched
with it (LitServe issue #340); here a bad request gets its own 4xx and never reaches the model.
"""

from __future__ import annotations

import base64
import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.data.belongs import PixelStats
from src.tools.serve.digit_request import IMAGE_FIELD, RequestError, digit_from_image, digit_from_json

DIGIT_KEY = "digit"  # what the inference worker receives: {"digit": base64 of 784 uint8}
DRAIN_FACTOR = 8  # an oversized body is read (and dropped) up to this many times the limit, so clients see the 413


class DigitRequestCheck:
    """ASGI middleware owning the HTTP side of ``POST <path>``: reads the body (at most ``max_body_bytes``), turns it
    into one checked digit (``src.tools.serve.digit_request``) and passes it on as ``{"digit": base64}``, or answers
    ``{"detail": reason}`` with a 4xx itself. Other paths and methods pass through untouched. ``training_pixels``
    (the model's training data statistics) is what JSON pixels are checked against.
    """

    def __init__(
        self,
        app: ASGIApp,
        path: str = "/predict",
        max_body_bytes: int = 6 * 1024 * 1024,
        training_pixels: PixelStats | None = None,
    ):
        self.app = app
        self.path = path
        self.max_body_bytes = max_body_bytes
        self.training_pixels = training_pixels

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read_body(receive)
            digit = await self._digit(scope, body)
        except RequestError as err:
            await JSONResponse({"detail": err.reason}, status_code=err.status)(scope, receive, send)
            return
        except ClientDisconnect:
            return
        forwarded = json.dumps({DIGIT_KEY: base64.b64encode(digit.tobytes()).decode()}).encode()
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(forwarded)).encode())]
        await self.app({**scope, "headers": headers}, _replay(forwarded, receive), send)

    async def _read_body(self, receive: Receive) -> bytes:
        """The whole body. Past ``max_body_bytes`` the rest is read and dropped (up to ``DRAIN_FACTOR`` times the
        limit, so that the client gets to read the 413), then refused."""
        chunks, size, more = [], 0, True
        while more and size <= DRAIN_FACTOR * self.max_body_bytes:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= self.max_body_bytes:
                chunks.append(chunk)
            more = message.get("more_body", False)
        if size > self.max_body_bytes:
            found = f"over {size}" if more else str(size)
            raise RequestError(413, f"body: {found} bytes; expected at most {self.max_body_bytes}")
        return b"".join(chunks)

    async def _digit(self, scope: Scope, body: bytes):
        content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
        kind = content_type.split(";")[0].strip().lower()
        if kind == "application/json":
            return digit_from_json(body, self.training_pixels)
        if kind == "multipart/form-data":
            data = await _uploaded_file(scope, body)
            return await run_in_threadpool(digit_from_image, data)  # decoding a large image must not stall the loop
        raise RequestError(
            415,
            f'Content-Type: {content_type or "missing"}; expected application/json with {{"pixels": [...]}} '
            f"or multipart/form-data with a file field '{IMAGE_FIELD}'",
        )


async def _uploaded_file(scope: Scope, body: bytes) -> bytes:
    """The bytes of the multipart file field ``image`` (parsed by Starlette and python-multipart)."""
    request = Request(scope, _replay(body, None))
    try:
        form = await request.form(max_files=1, max_fields=8)
    except Exception as err:  # Starlette raises its own and python-multipart's errors here
        raise RequestError(400, f"body: not a readable multipart form ({err})") from None
    upload = form.get(IMAGE_FIELD)
    if upload is None or isinstance(upload, str):
        found = "a text value" if isinstance(upload, str) else f"fields {sorted(form.keys())}"
        raise RequestError(400, f"{IMAGE_FIELD}: missing (found {found}); expected a file field named '{IMAGE_FIELD}'")
    data = await upload.read()
    await form.close()
    return data


def _replay(body: bytes, receive: Receive | None) -> Receive:
    """A ``receive`` that hands over ``body`` once, then waits on the client's own (for its disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if receive is None:
            return {"type": "http.disconnect"}
        return await receive()

    return replay
