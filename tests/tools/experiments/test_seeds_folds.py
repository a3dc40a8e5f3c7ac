"""``seeds --folds K`` and ``--bag_fraction F``: fold and bag members, their out-of-fold score and CSV, reuse only
with the same arguments, and the GPU recipe (15 bagged members x 45 epochs) run for a few steps on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from src.tools.experiments.oof import HeldOut, out_of_fold, write_oof_csv
from src.tools.experiments.seeds import Members, members_of
from src.utils import UserInputError
from tests.conftest import ROOT
from tests.learnable_digits import write_learnable_csvs


def tiny_fit(data_dir: Path, *extra: str) -> list[str]:
    return [
        "--data.data_dir", str(data_dir), "--data.batch_size", "20", "--trainer.max_epochs", "1",
        "--trainer.limit_train_batches", "2", "--trainer.precision", "32-true", *extra,
    ]  # fmt: skip


def write_small_csvs(folder: Path, n_train: int, n_test: int) -> Path:
    """train.csv, test.csv and test_labels.csv of 20x20 images in 3 classes: class k is a bright block in place k."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def images(labels: np.ndarray) -> pd.DataFrame:
        pixels = rng.integers(0, 40, size=(len(labels), 20, 20), dtype=np.uint8)
        for i, label in enumerate(labels):
            pixels[i, 7:13, 1 + 6 * label : 7 + 6 * label] = 255
        return pd.DataFrame(pixels.reshape(len(labels), 400), columns=[f"pixel{i}" for i in range(400)])

    train_labels, test_labels = np.arange(n_train) % 3, np.arange(n_test) % 3
    train = images(train_labels)
    train.insert(0, "label", train_labels)
    train.to_csv(folder / "train.csv", index=False)
    images(test_labels).to_csv(folder / "test.csv", index=False)
    labels = pd.DataFrame({"ImageId": np.arange(1, n_test + 1), "Label": test_labels})
    labels.to_csv(folder / "test_labels.csv", index=False)
    return folder


@pytest.mark.slow
def test_fold_members_score_out_of_fold_on_every_row_and_their_ensemble_tests_and_predicts(tmp_path, capsys):
    """At 20x20 pixels and 3 classes: sizes and class counts are the checkpoint's, as every command reads them."""
    from src.cli import run
    from src.data.csv_reader import read_digit_csv
    from src.data.holdout import duplicate_groups, fold_split
    from src.tools.experiments.oof import TrainCSV, fit_config, held_out_predictions
    from src.tools.experiments.seeds import seeds
    from src.tools.networks import network_from_checkpoint

    data_dir = write_small_csvs(tmp_path / "data", n_train=90, n_test=20)
    fit = tiny_fit(data_dir, "--data.image_size", "[20,20]", "--data.num_classes", "3")
    logs, submission = tmp_path / "logs", tmp_path / "submission.csv"
    scoring = seeds(seeds=[0], fit=fit, folds=2, name="k2", save_dir=logs, submit=True,
                    submission=submission)  # fmt: skip
    members = [logs / "k2" / f"mnist_seed0_fold{k}" for k in range(2)]
    for k, member in enumerate(members):  # each member's record names its fold, and its fit flags hold it out
        record = json.loads((member / "member.json").read_text())
        assert (record["fold"], record["folds"]) == (k, 2)
        assert record["fit"] == [
            *fit,
            "--data.holdout",
            "Folds",
            "--data.holdout.folds",
            "2",
            "--data.holdout.fold",
            str(k),
        ]
        assert scoring["members"][member.name]["fold"] == k

    table = read_digit_csv(data_dir / "train.csv", True, (20, 20), 3)
    oof = pd.read_csv(logs / "k2" / "oof.csv")
    assert list(oof.columns) == ["row", "fold", "label", *(f"p{k}" for k in range(3))]
    assert sorted(oof["row"]) == list(range(90))  # every training row, once
    assert (oof["label"].to_numpy() == table.labels.numpy()[oof["row"]]).all()
    probabilities = oof[[f"p{k}" for k in range(3)]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-4)
    groups = duplicate_groups(table.images)
    for k, member in enumerate(members):  # row r is predicted by the member that held it out, and only by it
        _, held = fold_split(table.labels, 2, k, seed=0, groups=groups)
        assert sorted(oof.loc[oof["fold"] == k, "row"]) == held.tolist()
        network, _ = network_from_checkpoint(scoring["members"][member.name]["checkpoint"])
        with torch.no_grad():
            own = torch.softmax(network(table.images[held].float() / 255), 1).numpy()
        np.testing.assert_allclose(probabilities[oof.set_index("row").index.get_indexer(held.tolist())], own, atol=1e-4)
    expected = float((probabilities.argmax(1) == oof["label"].to_numpy()).mean())
    assert scoring["out_of_fold"] == {"acc": pytest.approx(expected, abs=1e-6), "rows": 90, "of_rows": 90,
                                      "csv": str(logs / "k2" / "oof.csv")}  # fmt: skip
    assert f"out-of-fold accuracy on train.csv: {expected:.4f} (90 of 90 rows" in capsys.readouterr().out
    assert 0 <= scoring["ensemble_test_acc"] <= 1  # the fold members' ensemble checkpoint works with test ...
    assert len(submission.read_text().splitlines()) == 21  # ... and with predict
    ensemble = logs / "k2" / "ensemble.ckpt"
    listed = torch.load(ensemble, weights_only=True)["ensemble"]["members"]
    assert [Path(entry["checkpoint"]).parent.parent for entry in listed] == members
    # the fold members together trained on every row: validating their ensemble on any split would score seen rows
    with pytest.raises(UserInputError, match=r"trained on every row of train.csv .* validate would score images"):
        run(["validate", *fit, "--ckpt_path", str(ensemble)])

    with pytest.raises(
        UserInputError, match=r"--data.holdout.folds: 2 \(trained\) vs 3 \(asked\)"
    ):  # reused only as trained
        seeds(seeds=[0], fit=fit, folds=3, name="k2", save_dir=logs)
    # a later command rewrites a member's config.yaml (a refused resume with another split seed did): the score
    # takes the rows each member held out from its checkpoint, so it neither changes nor counts training rows
    config = members[1] / "config.yaml"
    config.write_text(config.read_text().replace(" seed: 0", " seed: 1"))
    oof_csv = (logs / "k2" / "oof.csv").read_text()
    again = seeds(seeds=[0], fit=fit, folds=2, name="k2", save_dir=logs)
    assert "2 of 2 members already trained" in capsys.readouterr().out
    assert again["out_of_fold"] == scoring["out_of_fold"] and (logs / "k2" / "oof.csv").read_text() == oof_csv
    assert "out_of_fold" not in seeds(seeds=[0], fit=fit, folds=2, name="k2", save_dir=logs, score=False)

    (data_dir / "train.csv").write_text((data_dir / "train.csv").read_text().replace("\n0,", "\n1,", 1))
    with pytest.raises(UserInputError, match="was not trained on the .*train.csv there is now"):
        held_out_predictions(Path(scoring["members"][members[0].name]["checkpoint"]), TrainCSV.of(fit_config(fit).data))


def held(rows: list[int], probabilities: list[list[float]], fold: int | None, fingerprint: str = "f") -> HeldOut:
    labels = np.array([0, 1, 0, 1])[rows]
    return HeldOut(np.array(rows), labels, np.array(probabilities), fold, fingerprint, 4)


def test_rows_held_out_by_several_members_get_their_average_and_uncovered_rows_are_left_out(tmp_path: Path):
    bags = [held([0, 1], [[0.9, 0.1], [0.6, 0.4]], None), held([1, 2], [[0.2, 0.8], [0.3, 0.7]], None)]
    oof = out_of_fold(bags)
    np.testing.assert_allclose(oof.probabilities[:3], [[0.9, 0.1], [0.4, 0.6], [0.3, 0.7]])
    assert oof.covered.tolist() == [True, True, True, False]
    assert oof.accuracy == pytest.approx(2 / 3)  # rows 0 and 1 right (row 1 only by the average), row 2 wrong
    assert write_oof_csv(tmp_path / "oof.csv", oof) == 3
    written = pd.read_csv(tmp_path / "oof.csv")
    assert written["row"].tolist() == [0, 1, 2] and written["fold"].isna().all()  # bags: no fold
    assert written["label"].tolist() == [0, 1, 0] and [p.name for p in tmp_path.iterdir()] == ["oof.csv"]


def test_fold_members_rows_carry_their_fold_and_members_of_other_data_are_refused() -> None:
    oof = out_of_fold([held([0, 2], [[1, 0], [1, 0]], 0), held([1, 3], [[0, 1], [1, 0]], 1)])
    assert oof.fold.tolist() == [0, 1, 0, 1] and oof.accuracy == 0.75
    with pytest.raises(UserInputError, match="different train.csv files"):
        out_of_fold([held([0], [[1, 0]], 0), held([1], [[1, 0]], 1, fingerprint="other")])


@pytest.mark.parametrize(
    ("folds", "bag", "message"),
    [(1, None, r"--folds 1; expected 2 or more"), (None, 1.0, r"--bag_fraction 1.0; expected a share"),
     (5, 0.9, r"pass one of them")],
)  # fmt: skip
def test_seeds_refuses_folds_or_bags_out_of_range(folds, bag, message) -> None:
    with pytest.raises(UserInputError, match=message):
        members_of([Members()], Path("x"), folds, bag)


def test_seeds_refuses_fit_arguments_that_choose_the_fold_or_bag_it_sets_per_member() -> None:
    groups = [Members(fit=["--data.holdout.fold=1", "--trainer.max_epochs", "1"], tag="a")]
    with pytest.raises(
        UserInputError, match="fit arguments of a set --data.holdout.fold, which --folds/--bag_fraction"
    ):
        members_of(groups, Path("x"), 3, None)
    assert len(members_of(groups, Path("x"), None, None)) == 3  # without --folds the fit arguments are the member's


def test_each_seed_trains_k_fold_members_or_one_bag() -> None:
    groups = [Members(fit=["--config", "configs/fast.yaml"], seeds=[0, 1], tag="a"), Members(seeds=[3], tag="b")]
    folded = members_of(groups, Path("x"), 2, None)
    assert [m.run_dir.name for m in folded] == [f"{t}_seed{s}_fold{k}" for t, s in (("a", 0), ("a", 1), ("b", 3))
                                                for k in (0, 1)]  # fmt: skip
    folds = ["--data.holdout", "Folds", "--data.holdout.folds", "2", "--data.holdout.fold", "1"]
    assert folded[1].fit == ["--config", "configs/fast.yaml", *folds]
    bagged = members_of(groups, Path("x"), None, 0.9)
    bag = ["--data.holdout", "Bag", "--data.holdout.fraction", "0.9", "--data.holdout.seed", "3"]
    assert [m.fit[-6:] for m in bagged][2] == bag
    assert bagged[2].record["bag_seed"] == 3 and bagged[2].run_dir.name == "b_seed3_bag"


@pytest.mark.slow
def test_the_gpu_recipe_says_15_bagged_members_of_45_epochs_and_trains_two_on_cpu(tmp_path: Path) -> None:
    from src.checkpoints import read_checkpoint
    from tests.conftest import tool

    recipe = yaml.safe_load((ROOT / "configs/seeds/gpu_bagged.yaml").read_text())
    (group,) = recipe["members"]
    assert len(group["seeds"]) == len(set(group["seeds"])) == 15 and recipe["bag_fraction"] == 0.9
    member = yaml.safe_load((ROOT / group["fit"][group["fit"].index("--config") + 1]).read_text())
    assert member["trainer"]["max_epochs"] == 45
    assert member["model"]["scheduler"] == {"class_path": "torch.optim.lr_scheduler.ExponentialLR",
                                            "init_args": {"gamma": 0.95}}  # fmt: skip
    assert member["model"]["scheduler_interval"] == "epoch"

    data_dir = write_learnable_csvs(tmp_path / "data", n_train=100, n_test=20)
    cpu = ["--trainer.accelerator", "cpu", *tiny_fit(data_dir, "--trainer.max_epochs", "2")]
    two = [{"tag": group["tag"], "fit": [*group["fit"], *cpu], "seeds": group["seeds"][:2]}]
    scoring = tool("seeds")(["--config", str(ROOT / "configs/seeds/gpu_bagged.yaml"), "--members", json.dumps(two),
                             "--save_dir", str(tmp_path / "logs"), "--score", "false"])  # fmt: skip
    assert set(scoring["members"]) == {"notebook_seed0_bag", "notebook_seed1_bag"}
    assert [run["bag_fraction"] for run in scoring["members"].values()] == [0.9, 0.9]  # from the recipe
    assert (tmp_path / "logs" / "gpu_bagged" / "ensemble.ckpt").is_file()
    for run in scoring["members"].values():
        assert Path(run["checkpoint"]).name == "last.ckpt"  # nothing selected on the rows the OOF score uses
        (optimizer,) = read_checkpoint(run["checkpoint"])["optimizer_states"]
        assert optimizer["param_groups"][0]["lr"] == pytest.approx(1e-3 * 0.95**2)  # x 0.95 per epoch, 2 epochs


def test_a_member_recorded_with_the_old_fold_flags_is_retrained_not_reused(tmp_path: Path) -> None:
    from src.tools.experiments.member_record import record_of, runs_to_retrain, write_record

    member = members_of([Members(seeds=[0], tag="a")], tmp_path, 2, None)[0]
    member.run_dir.mkdir(parents=True)
    write_record(member.run_dir, record_of(["--data.folds", "2", "--data.fold", "0"], 0))
    with pytest.raises(UserInputError, match=r"--data.folds: 2 \(trained\) vs .*add --retrain true to retrain"):
        runs_to_retrain({member.run_dir: member.record}, retrain=False)


@pytest.mark.slow
def test_the_ensemble_of_members_trained_with_model_flags_is_scored_and_submitted_as_an_ensemble(tmp_path):
    """A group's ``--model.*`` flags shape its members; the ensemble checkpoint's test and predict use its own network
    (they were passed on, replaced the ensemble's network and the command stopped after training)."""
    from src.tools.experiments.seeds import seeds

    data_dir = write_small_csvs(tmp_path / "data", n_train=60, n_test=20)
    network = ["--model.network", "src.models.tutorial_cnn.TutorialCNN", "--model.network.init_args.dropout=0.2"]
    fit = tiny_fit(data_dir, "--data.image_size", "[20,20]", "--data.num_classes", "3", *network)
    submission = tmp_path / "submission.csv"
    scoring = seeds(seeds=[0], fit=fit, folds=2, name="flags", save_dir=tmp_path / "logs", submit=True,
                    submission=submission)  # fmt: skip
    assert 0 <= scoring["ensemble_test_acc"] <= 1 and scoring["out_of_fold"]["rows"] == 60
    assert len(submission.read_text().splitlines()) == 21
