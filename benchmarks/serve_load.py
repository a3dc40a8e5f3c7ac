"""``python -m benchmarks.serve_load``: the server under load on 127.0.0.1 (part of ``make bench``).

Starts ``python -m src.tools serve`` as a user would and sends bounded bursts of real MNIST digits: one client at a time
(the latency of one image), then 16 concurrent clients (throughput, p50/p99), as 280x280 PNG uploads like the page
sends and as JSON pixels; then the PNG burst again with batching off, for comparison. Every request must come back
200: failures are counted, never retried. Prints a table and writes ``benchmarks/serve_load.json``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jsonargparse import auto_cli

from benchmarks.load_client import Payload, image_payloads, pixel_payloads, send_burst
from benchmarks.server_process import ROOT, running_server
from benchmarks.timing import write_figures
from src.data import embedded

TARGETS = {"one_image_p50_ms_max": 20.0, "batched_requests_per_s_min": 500.0, "png_to_json_ratio_min": 0.35}
SEEN_IMAGES = slice(60_000, 60_256)  # MNIST's own test images: what a server sees, not what the model trained on


def throwaway_checkpoint(work: Path, data_dir: Path, recipe: Path) -> Path:
    """A checkpoint of ``recipe``'s network after one training step: serving speed does not depend on the weights."""
    command = [
        sys.executable, "-m", "src.cli", "fit", "--config", str(recipe), "--data.data_dir", str(data_dir),
        "--trainer.max_steps", "1", "--trainer.logger.init_args.save_dir", str(work / "logs"),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"training the throwaway checkpoint failed:\n{done.stderr[-2000:]}")
    return next((work / "logs").glob("*/version_*/checkpoints/last.ckpt"))


def measure_server(
    url: str, bursts: dict[str, tuple[list[Payload], int, int]], warmup: int, time_limit: float
) -> dict[str, dict]:
    """Each named burst ``(payloads, requests, clients)`` after ``warmup`` untimed requests of its payloads."""
    results = {}
    for name, (payloads, requests, clients) in bursts.items():
        send_burst(f"{url}/predict", payloads, warmup, min(clients, 4), time_limit)
        results[name] = send_burst(f"{url}/predict", payloads, requests, clients, time_limit)
    return results


def serve_load(
    ckpt_path: str | None = None,
    experiment: str = "fast",
    data_dir: Path = Path("data/digit-recognizer"),
    recipe: Path = Path("configs/fast.yaml"),
    requests: int = 1200,
    clients: int = 16,
    one_client_requests: int = 200,
    warmup: int = 100,
    max_batch_size: int = 64,
    batch_timeout: float = 0.002,
    api_servers: int = 1,
    compare_unbatched: bool = True,
    time_limit: float = 120,
    output: Path = Path("benchmarks/serve_load.json"),
) -> dict:
    """Load-test the server and write every figure to ``output``.

    Args:
        ckpt_path: Weights to serve (``best``/``last`` of ``experiment``, a file, ...); default: ``recipe``'s
            network after one training step on ``data_dir`` (speed does not depend on the weights).
        experiment: Where ``best``/``last`` look (``logs/<experiment>``).
        data_dir: ``train.csv`` for the throwaway checkpoint.
        recipe: The training config whose network is served by default.
        requests: Requests in each concurrent burst.
        clients: Concurrent clients (connections) in those bursts.
        one_client_requests: Requests sent one after another, for the latency of one image.
        warmup: Untimed requests before each burst.
        max_batch_size: Passed to the server.
        batch_timeout: Passed to the server.
        api_servers: Passed to the server: HTTP processes that parse and check requests.
        compare_unbatched: Also run the PNG burst against a server started with ``--max_batch_size 1``.
        time_limit: Seconds; a burst still running then stops, and the unsent requests count as failures.
        output: JSON file, written atomically.
    """
    start, load_before = time.perf_counter(), os.getloadavg()
    images = embedded.load()[0][SEEN_IMAGES].numpy()
    uploads, pixel_bodies = image_payloads(images), pixel_payloads(images)
    served = [("batched", max_batch_size)] + ([("unbatched", 1)] if compare_unbatched else [])
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        work = Path(tmp)
        weights = ckpt_path or str(throwaway_checkpoint(work, data_dir, recipe))
        for label, batch_size in served:
            args = ["--ckpt_path", weights, "--experiment", experiment, "--log_level", "warning"]
            args += ["--max_batch_size", str(batch_size), "--batch_timeout", str(batch_timeout)]
            args += ["--api_servers", str(api_servers)]
            bursts = {f"{clients} clients, PNG upload": (uploads, requests, clients)}
            if label == "batched":
                bursts = {
                    "1 client, PNG upload": (uploads, one_client_requests, 1),
                    **bursts,
                    f"{clients} clients, JSON pixels": (pixel_bodies, requests, clients),
                }
            with running_server(args, work / f"server-{label}.log") as url:
                for name, result in measure_server(url, bursts, warmup, time_limit).items():
                    runs[f"{name}, {label}"] = result
    one = runs["1 client, PNG upload, batched"]
    png, json_pixels = (runs[f"{clients} clients, {kind}, batched"] for kind in ("PNG upload", "JSON pixels"))
    # Both bursts of one run, so the load on the machine cancels: what an upload's image work (decoding, mnist_style)
    # costs the HTTP process against JSON pixels
    ratio = png["requests_per_s"] / json_pixels["requests_per_s"]
    results = {
        "command": " ".join(["python -m benchmarks.serve_load", *sys.argv[1:]]),
        "weights": ckpt_path or f"{recipe} network after one training step (throwaway)",
        "server": {
            "max_batch_size": max_batch_size,
            "batch_timeout_s": batch_timeout,
            "api_servers": api_servers,
            "host": "127.0.0.1",
        },
        "runs": runs,
        "png_to_json_ratio": ratio,
        "targets": TARGETS,
        "met": {
            "one_image_p50_ms": one["p50_ms"] < TARGETS["one_image_p50_ms_max"],
            "batched_png_requests_per_s": png["requests_per_s"] >= TARGETS["batched_requests_per_s_min"],
            "batched_json_requests_per_s": json_pixels["requests_per_s"] >= TARGETS["batched_requests_per_s_min"],
            "png_to_json_ratio": ratio >= TARGETS["png_to_json_ratio_min"],
            "zero_failures": all(run["failures"] == 0 for run in runs.values()),
        },
    }
    return write_figures(output, results, format_table, load_before, start)


def format_table(results: dict) -> str:
    """One row per burst: requests/s, p50, p99, failures; then the targets, met or missed."""
    rows = [f"{'burst':<38} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'failures':>8}"]
    for name, run in results["runs"].items():
        rows.append(
            f"{name:<38} {run['requests']:>8} {run['requests_per_s']:>8,.0f} {run['p50_ms']:>8.1f} "
            f"{run['p99_ms']:>8.1f} {run['failures']:>8}"
        )
    word = {name: "met" if met else "MISSED" for name, met in results["met"].items()}
    targets = results["targets"]
    rows.append(
        f"targets: one image p50 < {targets['one_image_p50_ms_max']:.0f} ms: {word['one_image_p50_ms']}; "
        f">= {targets['batched_requests_per_s_min']:.0f} req/s with batching: "
        f"PNG {word['batched_png_requests_per_s']}, JSON {word['batched_json_requests_per_s']}; "
        f"zero failures: {word['zero_failures']}"
    )
    rows.append(
        f"PNG uploads / JSON pixels, requests per second with batching, same run: {results['png_to_json_ratio']:.2f} "
        f"(>= {targets['png_to_json_ratio_min']:.2f}: {word['png_to_json_ratio']})"
    )
    load = f"load {results['load_average_before'][0]:.2f} -> {results['load_average_after'][0]:.2f}"
    header = f"{results['machine']['cpu_model']}, {results['machine']['cpu_count']} cores; {load}; weights: "
    return "\n".join([header + results["weights"], *rows])


if __name__ == "__main__":
    auto_cli(serve_load)
