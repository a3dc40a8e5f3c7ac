"""``python -m src.tools serve``: the trained model behind ``POST /predict`` and the draw-a-digit page at ``/``.

LitServe runs it: HTTP processes check each request (``DigitRequestCheck``) and queue it; one inference worker runs
the queued digits in batches of up to ``max_batch_size`` (``DigitAPI``).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Literal

import litserve as ls

from src.data.belongs import PixelStats
from src.models.tta import TTAShift
from src.tools.images.reading import check_trained_on_mnist_style
from src.tools.predictor import load_predictor
from src.tools.serve.digit_api import DigitAPI
from src.tools.serve.page import add_page
from src.tools.serve.request_check import DigitRequestCheck
from src.utils import notice

MIB = 1024 * 1024


def build_server(
    api: DigitAPI, max_body_bytes: int = 6 * MIB, request_timeout: float = 30, training_pixels: PixelStats | None = None
) -> ls.LitServer:
    """The LitServer for ``api`` with the request check in front of ``/predict`` and the page at ``/``.

    OpenAPI and its /docs page are off: /docs would load Swagger's scripts from a CDN, and the page works offline.
    ``fast_queue``: answers travel back over ZMQ instead of multiprocessing-manager queues (JSON requests under load:
    312 -> 471 requests/s measured here).
    """
    check = (
        DigitRequestCheck,
        {"path": api.api_path, "max_body_bytes": max_body_bytes, "training_pixels": training_pixels},
    )
    server = ls.LitServer(
        api, accelerator="cpu", timeout=request_timeout, middlewares=[check], disable_openapi_url=True, fast_queue=True
    )
    add_page(server.app)
    return server


def serve(
    ckpt_path: list[str] | str = "best",
    experiment: str = "mnist",
    save_dir: Path = Path("logs"),
    host: Literal["127.0.0.1", "0.0.0.0", "::"] = "127.0.0.1",
    port: int = 8000,
    tta_shift: TTAShift = 0,
    precision: Literal["bf16-mixed", "32-true"] | None = None,
    max_batch_size: int = 64,
    batch_timeout: float = 0.002,
    threads: int = 1,
    max_body_bytes: int = 6 * MIB,
    api_servers: int = 1,
    log_level: str = "info",
) -> None:
    """Serve the model until Ctrl+C (or SIGTERM).

    Args:
        ckpt_path: ``best`` or ``last`` (newest run of ``save_dir/experiment``), a model file (an ensemble's
            ``ensemble.ckpt`` included), or a list of checkpoints averaged as an ensemble: anything ``load_predictor``
            loads.
        experiment: The experiment (logger name) whose newest run ``best``/``last`` look in.
        save_dir: The folder holding the experiments' runs.
        host: Where to listen; 127.0.0.1 (this machine only) unless you mean to expose it.
        port: TCP port.
        tta_shift: Average each digit with copies moved this many pixels (5x the work); 0 = off, at most 4.
        precision: ``bf16-mixed`` or ``32-true``; default: the fastest for this CPU.
        max_batch_size: Concurrent requests run together as one batch, at most.
        batch_timeout: Seconds the worker waits to fill a batch; every request waits up to this long.
        threads: torch threads of the model's worker (see ``DigitAPI``).
        max_body_bytes: Larger request bodies are refused with 413.
        api_servers: HTTP processes that parse and check requests (the model runs in one worker either way).
        log_level: uvicorn's log level (``warning`` for quiet).
    """
    predictor = load_predictor(ckpt_path, tta_shift, precision, save_dir, experiment)  # fails here, not in the worker
    # the page and uploads make 28x28 MNIST-style digits
    check_trained_on_mnist_style(predictor.training_pixels, predictor.source, predictor.image_size)
    weights = predictor.weights  # the files resolved, so that the worker loads what was checked
    notice(f"weights: {predictor.source}; tta_shift {predictor.tta_shift:g}; precision {predictor.precision}")
    pixels = predictor.training_pixels
    del predictor
    api = DigitAPI(weights, tta_shift, precision, save_dir, experiment, max_batch_size, batch_timeout, threads)
    server = build_server(api, max_body_bytes, training_pixels=pixels)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # LitServe shuts its workers down on Ctrl+C only
    os.register_at_fork(after_in_child=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))  # not in its children
    shown = f"[{host}]" if ":" in host else host
    notice(f"serving the draw-a-digit page at http://{shown}:{port}/ and POST /predict")
    server.run(host=host, port=port, num_api_servers=api_servers, log_level=log_level, generate_client_file=False)


def command(args: list[str]) -> None:
    """``python -m src.tools serve ...``"""
    from jsonargparse import CLI

    CLI(serve, args=args, exit_on_error=False)
