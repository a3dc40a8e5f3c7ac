"""The ceiling: a bare training loop of the tutorial CNN (no Lightning, no data pipeline, no augmentation)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from benchmarks.budget import Budget, in_turn
from src.models.tutorial_cnn import TutorialCNN


@dataclass(frozen=True)
class Variant:
    """One way to run the network: memory format and autocast dtype."""

    channels_last: bool
    bf16: bool


VARIANTS = {
    "fp32": Variant(channels_last=False, bf16=False),
    "fp32_cl": Variant(channels_last=True, bf16=False),
    "bf16": Variant(channels_last=False, bf16=True),
    "bf16_cl": Variant(channels_last=True, bf16=True),
}


def variant_for(precision: str, channels_last: bool) -> str:
    """The VARIANTS key a Trainer ``precision`` value and a channels_last flag correspond to."""
    return ("bf16" if precision.startswith("bf16") else "fp32") + ("_cl" if channels_last else "")


class BareLoop:
    """A network (TutorialCNN unless given) + Adam + cross-entropy on a fixed pool of random batches in memory."""

    def __init__(
        self, variant: Variant, batch_size: int, n_batches: int = 8, seed: int = 0, network: type = TutorialCNN
    ):
        generator = torch.Generator().manual_seed(seed)
        self.variant = variant
        self.batch_size = batch_size
        torch.manual_seed(seed)
        self.network = network()
        memory_format = torch.channels_last if variant.channels_last else torch.contiguous_format
        self.network.to(memory_format=memory_format).train()
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=1e-3)
        self.batches = [
            (
                torch.rand(batch_size, 1, 28, 28, generator=generator).contiguous(memory_format=memory_format),
                torch.randint(0, 10, (batch_size,), generator=generator),
            )
            for _ in range(n_batches)
        ]

    def steps(self, n: int) -> None:
        for i in range(n):
            images, labels = self.batches[i % len(self.batches)]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.variant.bf16):
                logits = self.network(images)
            loss = F.cross_entropy(logits.float(), labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()

    def run(self, n_steps: int) -> int:
        """``n_steps`` training steps; the number of images they trained on."""
        self.steps(n_steps)
        return n_steps * self.batch_size


def measure_bare_loops(budget: Budget, native_bf16: bool) -> dict:
    """Median images/s per variant over windows taken in turn across the variants (``in_turn``); the bf16
    variants only where bf16 is native: emulated, they are several times slower than fp32 and say nothing
    about a default the CLI would never pick."""
    names = [name for name, variant in VARIANTS.items() if native_bf16 or not variant.bf16]
    loops = {name: BareLoop(VARIANTS[name], budget.batch_size) for name in names}
    runs = {name: loop.run for name, loop in loops.items()}
    rates = in_turn(runs, budget.steps_per_window, budget, budget.bare_loops_s)
    skipped = [name for name in VARIANTS if name not in loops]
    return {
        "img_s": {name: statistics.median(values) for name, values in rates.items()},
        "windows_img_s": rates,
        "skipped": skipped,
    }
