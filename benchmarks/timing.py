"""Timing helpers shared by the benchmarks: repeat a measurement, take the median, describe the machine."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch

T = TypeVar("T")


def median_seconds(run: Callable[[], T], repeats: int) -> tuple[float, list[float], T]:
    """Median wall time of ``repeats`` calls of ``run``, every single time, and what the last call returned."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, object]:
    """What the numbers depend on: CPU, core/thread counts, library versions, load at the time."""
    import pytorch_lightning as pl

    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "lightning_version": pl.__version__,
        "python_version": platform.python_version(),
        "cuda_available": torch.cuda.is_available(),
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


@contextlib.contextmanager
def timed(durations: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall time of the ``with`` block to ``durations[name]`` (seconds)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        durations[name] = durations.get(name, 0.0) + time.perf_counter() - start


def noisy(series: dict[str, list[float]], max_spread: float = 1.5) -> dict[str, list[float]]:
    """``[min, max]`` of every series whose repeats differ by more than ``max_spread`` times: a sign that
    something else used the CPU meanwhile (its median may still be fine if most repeats were quiet)."""
    return {
        name: [min(values), max(values)]
        for name, values in series.items()
        if len(values) > 1 and max(values) > max_spread * min(values)
    }
