"""``python -m benchmarks.serve_load`` (part of ``make bench``) on a tiny budget: it starts the server, sends every
burst, counts every request and writes its figures. Its numbers are not speeds here; only that nothing fails."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT  # noqa: E402


@pytest.mark.slow
def test_a_small_load_run_answers_every_request_and_writes_its_figures(mnist_checkpoint, tmp_path):
    output = tmp_path / "serve_load.json"
    command = [
        sys.executable, "-m", "benchmarks.serve_load", "--ckpt_path", str(mnist_checkpoint),
        "--requests", "48", "--clients", "4", "--one_client_requests", "8", "--warmup", "4",
        "--compare_unbatched", "false", "--output", str(output),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(output.read_text())
    assert set(results["runs"]) == {
        "1 client, PNG upload, batched",
        "4 clients, PNG upload, batched",
        "4 clients, JSON pixels, batched",
    }
    for run in results["runs"].values():
        assert run["failures"] == 0, run["failure_examples"]
        assert run["requests_per_s"] > 0 and 0 < run["p50_ms"] <= run["p99_ms"]
    assert results["met"]["zero_failures"] is True
    png, json_pixels = (
        results["runs"][f"4 clients, {kind}, batched"]["requests_per_s"] for kind in ("PNG upload", "JSON pixels")
    )
    assert (
        results["png_to_json_ratio"] == pytest.approx(png / json_pixels) and "PNG uploads / JSON pixels" in done.stdout
    )
    assert "4 clients, JSON pixels, batched" in done.stdout and "targets:" in done.stdout
