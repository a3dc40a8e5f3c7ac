"""How much each benchmark measures: a full budget for ``make bench`` and a tiny one for ``--quick``.

Windows are capped by count and by time: a slow CPU (no native bf16, fewer vector units) runs fewer windows of
each measurement instead of running for longer, so ``make bench`` stays under 5 minutes on every CPU kind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

WARMUP_S = 3.0  # longest warm-up of one measurement (oneDNN builds its kernels on the first calls)


@dataclass(frozen=True)
class Budget:
    """Repeats, windows, batch sizes and seconds (the Trainer's batch size comes from its config). Every reported
    rate is the median over its windows (or epochs, CSV reads), each after ``warmup`` untimed steps; a
    measurement stops after ``windows`` windows or once its ``*_s`` seconds are spent, with ``min_windows`` at
    least."""

    warmup: int = 10
    windows: int = 9  # many short windows: a burst of load elsewhere spoils a few, not the median
    min_windows: int = 3
    steps_per_window: int = 15
    predict_batches_per_window: int = 8
    trainer_epochs: int = 3  # timed epochs per Trainer run, each between two turns of the tutorial loop
    warmup_epochs: int = 1  # untimed first epoch: oneDNN's first calls (and compiling, with --model.compile)
    csv_repeats: int = 3
    batch_size: int = 64
    predict_batch_size: int = 256  # the DataModule's eval_batch_size: fastest on this CPU (cache-sized)
    bare_loops_s: float = 16.0  # all four variants together
    epoch_s: float = 9.0  # a Trainer epoch is cut to the share of its batches that takes about this long
    predict_s: float = 16.0  # all prediction paths together
    bare_turn_s: float = 1.5  # one window of the bare loop after each tutorial-loop turn
    baseline_turn_s: float = 4.0  # one turn of the tutorial loop (train steps + val batches) between epochs
    compile_prediction: bool = True  # torch.compile takes tens of seconds: not in --quick


FULL = Budget()
QUICK = Budget(
    warmup=1,
    windows=2,
    min_windows=1,
    steps_per_window=1,
    predict_batches_per_window=1,
    trainer_epochs=1,
    warmup_epochs=0,
    epoch_s=60.0,  # whole epochs of the tiny data
    baseline_turn_s=0.2,
    bare_turn_s=0.1,
    csv_repeats=1,
    batch_size=16,
    predict_batch_size=64,
    compile_prediction=False,
)


def in_turn(runs: dict[str, Callable[[int], int]], max_units: int, budget: Budget, seconds: float) -> dict:
    """``{name: [images/s per window]}`` for ``runs``, each ``run(n)`` doing ``n`` units of work (training steps,
    batches) and returning how many images they held.

    Warm-up first: single units, up to ``budget.warmup`` of them or ``WARMUP_S`` seconds. The last one's time sets
    the window size, at most ``max_units``, so that ``budget.windows`` rounds fit in ``seconds``. Then one window
    of every run per round, so that a burst of load elsewhere hits them alike rather than skewing a ratio; rounds
    stop at ``budget.windows``, or once ``seconds`` are spent and ``budget.min_windows`` are done.
    """
    window_s = seconds / (budget.windows * len(runs))
    units = {}
    for name, run in runs.items():
        start, unit_s = time.perf_counter(), 0.0
        for done in range(max(2, budget.warmup)):
            if done >= 2 and time.perf_counter() - start > WARMUP_S:
                break
            begin = time.perf_counter()
            run(1)
            unit_s = time.perf_counter() - begin
        units[name] = max(1, min(max_units, int(window_s / max(unit_s, 1e-9))))
    rates: dict[str, list[float]] = {name: [] for name in runs}
    start = time.perf_counter()
    for done in range(budget.windows):
        if done >= budget.min_windows and time.perf_counter() - start > seconds:
            break
        for name, run in runs.items():
            begin = time.perf_counter()
            images = run(units[name])
            rates[name].append(images / (time.perf_counter() - begin))
    return rates
