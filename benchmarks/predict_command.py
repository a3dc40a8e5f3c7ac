"""Wall time of the whole ``predict`` command as a user runs it: start-up, CSV read, model, submission."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure_predict_command(train_config: Path, data_dir: Path, checkpoint: Path, output: Path) -> dict:
    """Seconds for ``python -m src.cli predict --config <train_config> --ckpt_path <checkpoint>``."""
    command = [
        sys.executable, "-m", "src.cli", "predict", "--config", str(train_config),
        "--ckpt_path", str(checkpoint),
        "--data.data_dir", str(data_dir), "--submission.output", str(output),
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"predict failed:\n{done.stderr[-2000:]}")
    rows = sum(1 for _ in output.open()) - 1
    return {"seconds": seconds, "rows": rows, "img_s_end_to_end": rows / seconds}
