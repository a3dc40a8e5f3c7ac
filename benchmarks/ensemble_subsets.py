"""``python -m benchmarks.ensemble_subsets --ensemble logs/ensemble/ensemble.ckpt``: what each member and TTA buy.
``--join '[other.ckpt, ...]'`` adds the members of other ensembles or runs.

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
    join: list[Path] | None = None,
    data_dir: Path = Path("data/digit-recognizer"),
    tta_shifts: tuple[float, ...] = (0.0, 1.0),
    subsets: int = 30,
    seed: int = 0,
) -> dict:
    """Print and return wrong images per member and per ensemble size, for each TTA shift. ``join``: more checkpoints
    (ensembles or single members, of other runs) whose members join the ensemble's, checked against the data alike."""
    network, metadata = network_from_checkpoint(ensemble)
    if not isinstance(network, Ensemble):
        raise UserInputError(f"{ensemble} holds one network; pass the ensemble.ckpt `python -m src.tools seeds` writes")
    data = DigitCSVDataModule(data_dir=data_dir)
    data.setup("test")
    members, runs, records = [], [], []
    for path, (net, meta) in [(ensemble, (network, metadata))] + [(p, network_from_checkpoint(p)) for p in join or []]:
        record = TrainingRecord.from_dict((meta.get("DigitCSVDataModule") or {}).get("training_data"))
        data.check_weights_belong(record, "test")  # the checks `test` makes of each checkpoint
        if trained_shape(meta) != trained_shape(metadata):
            raise UserInputError(f"{path} was trained on another image size or class count than {ensemble}")
        records.append(record)
        if isinstance(net, Ensemble):
            members += list(net.members)
            runs += [e.get("run") or Path(e["checkpoint"]).parent.parent.name for e in meta["ensemble"]["members"]]
        else:
            members.append(net)
            runs.append(f"{Path(path).parent.parent.parent.name}/{Path(path).parent.parent.name}")
    images = data.test_set.images.reshape(-1, 28, 28).numpy().astype(np.uint8)
    labels = data.test_set.labels.numpy()
    names = [f"{i}: {run}" for i, run in enumerate(runs)]  # a run may repeat
    classes, size = trained_shape(metadata)
    pixels = None if records[0] is None else records[0].pixels
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
