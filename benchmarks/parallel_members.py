"""``python -m benchmarks.parallel_members``: is it faster to train two ensemble members at once, one thread each
(``seeds --parallel 2``), than one after the other on every thread?

Each round runs A, one process on ``--threads`` threads, then B, ``--threads`` processes on one thread each at the
same moment (a start time they all wait for after their warm-up), the bare training loop of ``--network``
(``benchmarks.bare_loop``, at the precision the CLI would pick) for ``--seconds``. The ratio of each round is B's
summed images/s over A's; the median over rounds is printed with the min-max. Not part of ``make bench``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from jsonargparse import auto_cli

from benchmarks.bare_loop import VARIANTS, BareLoop, variant_for
from src.models.strided_cnn import StridedCNN
from src.models.tutorial_cnn import TutorialCNN
from src.utils import fastest_precision

ROOT = Path(__file__).resolve().parents[1]
NETWORKS = {"strided": StridedCNN, "tutorial": TutorialCNN}


def worker(network: str, threads: int, start_at: float, seconds: float, batch_size: int) -> None:
    """Warm up, wait for ``start_at`` (a ``time.time()``), train for ``seconds``; print images/s as JSON."""
    torch.set_num_threads(threads)
    loop = BareLoop(VARIANTS[variant_for(fastest_precision(), True)], batch_size, network=NETWORKS[network])
    loop.run(10)
    time.sleep(max(0.0, start_at - time.time()))
    begin, images = time.perf_counter(), 0
    while time.perf_counter() - begin < seconds:
        images += loop.run(1)
    print(json.dumps({"img_s": images / (time.perf_counter() - begin)}))


def launch(count: int, threads: int, network: str, seconds: float, batch_size: int, start_after_s: float) -> float:
    """Summed images/s of ``count`` worker processes of ``threads`` threads each, timed over the same window."""
    start_at = time.time() + start_after_s
    call = f"worker({network!r}, {threads}, {start_at}, {seconds}, {batch_size})"
    code = f"from benchmarks.parallel_members import worker; {call}"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env) for _ in range(count)]
    outputs = [proc.communicate()[0] for proc in procs]
    if any(proc.returncode for proc in procs):
        sys.exit("error: a worker process failed")
    return sum(json.loads(out.splitlines()[-1])["img_s"] for out in outputs)


def parallel_members(
    network: str = "strided",
    threads: int = 0,
    rounds: int = 3,
    seconds: float = 8.0,
    batch_size: int = 64,
    start_after_s: float = 6.0,
) -> dict:
    """Print and return the images/s of A (one process, every thread) and B (one process per thread) per round.

    Args:
        network: ``strided`` (configs/fast.yaml's) or ``tutorial`` (configs/mnist.yaml's).
        threads: Threads of A and processes of B; 0: the CPU count.
        rounds: A/B rounds; the ratio is their median.
        seconds: Timed window of each run.
        batch_size: Training batch size (configs/fast.yaml's is 64).
        start_after_s: When the timed window starts after launching: every process has imported torch and
            warmed up by then.
    """
    threads = threads or os.cpu_count() or 1
    one, many = [], []
    for _ in range(rounds):
        one.append(launch(1, threads, network, seconds, batch_size, start_after_s))
        many.append(launch(threads, 1, network, seconds, batch_size, start_after_s))
    ratios = [b / a for a, b in zip(one, many, strict=True)]
    result = {
        "network": network,
        "precision": fastest_precision(),
        "one_process_img_s": one,
        "one_thread_each_img_s": many,
        "ratio_median": statistics.median(ratios),
        "ratio_min_max": [min(ratios), max(ratios)],
    }
    print(
        f"{network} ({result['precision']}, batch {batch_size}): 1 process x {threads} threads "
        f"{statistics.median(one):,.0f} img/s; {threads} processes x 1 thread {statistics.median(many):,.0f} img/s "
        f"in all; x{result['ratio_median']:.2f} [{min(ratios):.2f}-{max(ratios):.2f}] over {rounds} rounds"
    )
    return result


if __name__ == "__main__":
    auto_cli(parallel_members)
