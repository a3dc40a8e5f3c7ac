"""Timing helpers shared by the benchmarks: repeat a measurement, take the median, describe the machine."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import torch

from src.utils import atomic_write

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


def write_figures(
    output: Path, results: dict, format_table: Callable[[dict], str], load_before: tuple[float, ...], start: float
) -> dict:
    """Add the machine, the load before and after and the wall time to ``results``; write them as JSON
    atomically and print them as ``format_table`` lays them out. Shared by ``benchmarks.speed`` and
    ``benchmarks.serve_load``."""
    results = {
        **results,
        "machine": machine_info(),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "wall_s": time.perf_counter() - start,
    }
    with atomic_write(output) as handle:
        json.dump(results, handle, indent=2)
    print(format_table(results))
    print(f"wrote {output}")
    return results


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
