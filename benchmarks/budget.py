"""How much each benchmark measures: a full budget for ``make bench`` and a tiny one for ``--quick``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """Repeats, windows and batch sizes (the Trainer's batch size comes from its config). Every reported
    rate is the median over ``windows`` windows (or ``trainer_epochs`` epochs, ``csv_repeats`` reads),
    each after ``warmup`` untimed steps."""

    warmup: int = 10
    windows: int = 9  # many short windows: a burst of load elsewhere spoils a few, not the median
    steps_per_window: int = 15
    predict_batches_per_window: int = 8
    trainer_epochs: int = 3
    fp32_trainer_epochs: int = 2  # the 32-true comparison run; fewer, as its epochs are the slowest
    csv_repeats: int = 3
    batch_size: int = 64
    predict_batch_size: int = 256  # the DataModule's eval_batch_size: fastest on this CPU (cache-sized)


FULL = Budget()
QUICK = Budget(
    warmup=1,
    windows=2,
    steps_per_window=1,
    predict_batches_per_window=1,
    trainer_epochs=1,
    fp32_trainer_epochs=1,
    csv_repeats=1,
    batch_size=16,
    predict_batch_size=64,
)
