"""``python -m benchmarks.ensemble_subsets --ensemble logs/ensemble/ensemble.ckpt``: what each member and TTA buy.

Every member of an ensemble checkpoint (what ``python -m src.tools seeds`` writes) predicts the labelled test set once
per TTA shift; the table gives each member's wrong images, then for every ensemble size k the mean, min and max wrong
images over random k-member subsets (up to ``--subsets`` of them), with and without TTA. The test data is read and
checked against the ensemble's training record as ``src.cli test`` does (labels for this test set, no overlap).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from jsonargparse import auto_cli

from src.data.belongs import TrainingRecord
from src.data.datamodule import DigitCSVDataModule
from src.models.ensemble import Ensemble
from src.tools.networks import network_from_checkpoint, trained_shape
from src.tools.predictor import TorchPredictor
from src.utils import UserInputError


def ensemble_subsets(
    ensemble: Path = Path("logs/ensemble/ensemble.ckpt"),
    data_dir: Path = Path("data/digit-recognizer"),
    tta_shifts: tuple[float, ...] = (0.0, 1.0),
    subsets: int = 30,
    seed: int = 0,
) -> dict:
    """Print and return wrong images per member and per ensemble size, for each TTA shift."""
    network, metadata = network_from_checkpoint(ensemble)
    if not isinstance(network, Ensemble):
        raise UserInputError(f"{ensemble} holds one network; pass the ensemble.ckpt `python -m src.tools seeds` writes")
    record = TrainingRecord.from_dict((metadata.get("DigitCSVDataModule") or {}).get("training_data"))
    data = DigitCSVDataModule(data_dir=data_dir)
    data.setup("test")
    data.check_weights_belong(record, "test")  # the checks `test` makes of the ensemble
    images = data.test_set.images.reshape(-1, 28, 28).numpy().astype(np.uint8)
    labels = data.test_set.labels.numpy()
    members = list(network.members)
    runs = [
        entry.get("run") or Path(entry["checkpoint"]).parent.parent.name for entry in metadata["ensemble"]["members"]
    ]
    names = [f"{i}: {run}" for i, run in enumerate(runs)]  # a run may repeat
    classes, size = trained_shape(metadata)
    pixels = None if record is None else record.pixels
    result, rng = {"members": names, "test_rows": len(labels)}, np.random.default_rng(seed)
    for shift in tta_shifts:
        predictors = [
            TorchPredictor(m, shift, None, name, False, 256, pixels, classes, size)
            for m, name in zip(members, names, strict=True)
        ]
        probabilities = [np.asarray(predictor(images)) for predictor in predictors]

        def wrong(chosen: tuple[int, ...], probabilities=probabilities) -> int:
            return int((sum(probabilities[i] for i in chosen).argmax(1) != labels).sum())

        per_member = {name: wrong((i,)) for i, name in enumerate(names)}
        by_size = {}
        for k in range(1, len(members) + 1):
            combos = list(itertools.combinations(range(len(members)), k))
            picked = [combos[i] for i in rng.choice(len(combos), min(subsets, len(combos)), replace=False)]
            counts = [wrong(c) for c in picked]
            by_size[k] = {"mean": float(np.mean(counts)), "min": min(counts), "max": max(counts), "n": len(picked)}
        result[f"tta_{shift:g}"] = {"per_member": per_member, "by_size": by_size}
        print(f"TTA shift {shift:g}: wrong of {len(labels):,} per member: {per_member}")
        for k, s in by_size.items():
            spread = f"min {s['min']}, max {s['max']}; {s['n']} subsets"
            print(f"  {k:>2} members: {s['mean']:6.1f} wrong on average ({spread})")
    return result


if __name__ == "__main__":
    auto_cli(ensemble_subsets)
