"""What ``python -m src.tools seeds`` records and checks before it trains: each member's ``member.json``
compared with the arguments asked, the refusal naming the difference, ``scores.json`` as a kept history, and
``--tta_shift`` checked when parsing. No training here: every refusal comes before any."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from src.cli import DEFAULT_CONFIG
from src.tools.experiments.member_record import differences, record_of, write_record
from src.tools.experiments.oof import fit_config
from src.tools.experiments.scorings import append_scoring, read_scorings
from src.tools.experiments.seeds import seeds
from src.utils import UserInputError
from tests.conftest import ROOT, tool

main = tool("seeds")


def nowhere(tmp_path: Path) -> list[str]:
    """Fit arguments a member could not train with: were a refusal to fail, the command stops at once."""
    return ["--data.data_dir", str(tmp_path / "no-data")]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def trained_member(run_dir: Path, record: dict | None) -> Path:
    """A run folder as a finished member leaves it (its record, summary and checkpoint), without the training."""
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    (run_dir / "summary.json").write_text(json.dumps({"finished": True}))
    if record is not None:
        write_record(run_dir, record)
    return run_dir


def test_records_differ_by_what_changes_training_and_name_each_difference(tmp_path):
    config = tmp_path / "recipe.yaml"
    config.write_text("trainer:\n  max_epochs: 3  # short\n")
    trained = record_of(["--config", str(config), "--trainer.limit_train_batches", "20"], seed=0)
    assert trained["fit"] == ["--config", str(config), "--trainer.limit_train_batches", "20"]
    assert [c["path"] for c in trained["configs"]] == [str(DEFAULT_CONFIG), str(config)]  # the default recipe first

    config.write_text("# the same settings, other comments\ntrainer: {max_epochs: 3}\n")
    spelled = ["--config", str(config.parent / "." / config.name), "--trainer.limit_train_batches=20"]
    assert differences(trained, record_of(spelled, seed=0)) == []

    asked = record_of(["--config", str(config), "--trainer.limit_train_batches", "30"], seed=1)
    assert differences(trained, asked) == [
        "--trainer.limit_train_batches: 20 (trained) vs 30 (asked)",
        "seed: 0 (trained) vs 1 (asked)",
    ]
    config.write_text("trainer: {max_epochs: 4}\n")  # the same path, another setting
    edited = record_of(["--config", str(config), "--trainer.limit_train_batches", "20"], seed=0)
    assert differences(trained, edited) == [f"--config {config}: trainer.max_epochs: 3 (trained) vs 4 (asked)"]
    dropped = record_of(["--config", str(config)], seed=0)
    assert "--trainer.limit_train_batches: 20 (trained) vs not given (asked)" in differences(edited, dropped)
    reordered = record_of(["--trainer.limit_train_batches", "20", "--config", str(config)], seed=0)
    assert differences(edited, reordered)[0].startswith("the same flags in another order: ")  # a later config wins


def test_a_member_trained_with_other_fit_args_stops_the_command_before_it_writes_anything(tmp_path, capsys):
    fit = ["--config", "configs/fast.yaml", "--trainer.limit_train_batches"]
    experiment = tmp_path / "logs" / "duo"
    for seed in (0, 1):
        trained_member(experiment / f"fast_seed{seed}", record_of([*fit, "20"], seed))
    (experiment / "scores.json").write_text('[{"members": {}}]')
    (experiment / "ensemble.ckpt").write_bytes(b"an earlier ensemble")
    before = snapshot(experiment)

    argv = ["--seeds", "[0, 1]", "--name", "duo", "--save_dir", str(tmp_path / "logs"), "--", *fit, "30"]
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "fast_seed0, fast_seed1: --trainer.limit_train_batches: 20 (trained) vs 30 (asked)" in lines[0]
    assert "--retrain true" in lines[0] and ".replaced-" in lines[0] and "--name" in lines[0]
    assert snapshot(experiment) == before  # nothing trained, renamed, rewritten or appended


def test_a_trained_run_folder_without_a_record_is_not_reused(tmp_path):
    trained_member(tmp_path / "logs" / "old" / "mnist_seed0", record=None)
    with pytest.raises(UserInputError, match=r"mnist_seed0: no member\.json records what it was trained with"):
        seeds(seeds=[0], fit=nowhere(tmp_path), name="old", save_dir=tmp_path / "logs")


def test_scores_json_keeps_every_scoring_and_is_never_overwritten_unread(tmp_path):
    path = tmp_path / "scores.json"
    path.write_text(json.dumps({"ensemble": 0.9}))  # one scoring as an object
    append_scoring(path, {"ensemble_test_acc": 0.95})
    append_scoring(path, {"ensemble_test_acc": 0.97})
    assert read_scorings(path) == [{"ensemble": 0.9}, {"ensemble_test_acc": 0.95}, {"ensemble_test_acc": 0.97}]

    path.write_text("{not json")
    with pytest.raises(UserInputError, match="scores.json: not JSON"):
        append_scoring(path, {"ensemble_test_acc": 0.99})
    with pytest.raises(UserInputError, match="scores.json: not JSON"):  # refused before training anything
        seeds(seeds=[0], fit=nowhere(tmp_path), name=tmp_path.name, save_dir=tmp_path.parent)
    assert path.read_text() == "{not json" and not (tmp_path / "mnist_seed0").exists()


def test_a_tta_shift_beyond_the_digit_margin_is_refused_when_parsing(tmp_path, capsys):
    argv = ["--seeds", "[0]", "--save_dir", str(tmp_path), "--tta_shift", "40", "--", *nowhere(tmp_path)]
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert 'key "tta_shift"' in capsys.readouterr().err and list(tmp_path.iterdir()) == []
    with pytest.raises(UserInputError, match="tta_shift 40"):  # the same check for Python callers
        seeds(seeds=[0], fit=nowhere(tmp_path), save_dir=tmp_path, tta_shift=40)
    assert list(tmp_path.iterdir()) == []


def test_a_setting_is_what_the_last_config_file_or_flag_gives_it(tmp_path):
    config = tmp_path / "gpu.yaml"
    config.write_text("trainer:\n  accelerator: gpu\n")
    assert fit_config([]).trainer.accelerator == "auto"  # the default recipe's
    assert fit_config(["--config", str(config)]).trainer.accelerator == "gpu"
    on_cpu = fit_config(["--config", str(config), "--trainer.accelerator=cpu"])
    assert on_cpu.trainer.accelerator == "cpu"
    config_last = fit_config(["--trainer.accelerator", "cpu", "--config", str(config)])
    assert config_last.trainer.accelerator == "gpu"
    assert on_cpu.trainer.min_epochs is None  # set by no file nor flag: the Trainer's default


def _gpu_here() -> bool:
    from pytorch_lightning.accelerators import CUDAAccelerator, MPSAccelerator

    return CUDAAccelerator.is_available() or MPSAccelerator.is_available()


@pytest.mark.skipif(_gpu_here(), reason="the refusal is for a machine without a GPU")
def test_the_gpu_recipe_without_a_gpu_is_one_line_saying_so_before_anything_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # the recipe names configs/notebook.yaml, relative to the repository
    with pytest.raises(SystemExit) as stopped:
        main(["--config", "configs/seeds/gpu_bagged.yaml", "--save_dir", str(tmp_path / "logs")])
    assert stopped.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: members notebook train on a GPU (trainer.accelerator gpu)")
    assert "needs a CUDA GPU" in line and "add --trainer.accelerator cpu" in line
    assert list(tmp_path.iterdir()) == []  # no run folder, no member.json, no fit.log
