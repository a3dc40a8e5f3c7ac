"""The real CLI, in process, on tiny learnable CSVs: fit/validate/test, presets, logging, resume, DDP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from src.cli import main
from src.models.classifier import DigitClassifier
from tests.learnable_digits import write_learnable_csvs

ROOT = Path(__file__).resolve().parents[1]
SEED_RECIPE = str(ROOT / "configs" / "mnist.yaml")


def cli_args(data_dir: Path, logs: Path, *extra: str) -> list[str]:
    return [
        "--config", SEED_RECIPE,
        "--data.data_dir", str(data_dir),
        "--data.batch_size", "20",
        "--data.eval_batch_size", "64",
        "--trainer.logger.init_args.save_dir", str(logs),
        "--trainer.precision", "32-true",
        *extra,
    ]  # fmt: skip


def run(subcommand: str, *args: str):
    return main([subcommand, *args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 3-epoch fit of the seed recipe on 200 learnable images."""
    root = tmp_path_factory.mktemp("fit")
    data_dir = write_learnable_csvs(root / "data")
    cli = run("fit", *cli_args(data_dir, root / "logs", "--trainer.max_epochs", "3"))
    return cli, data_dir, root / "logs"


def test_help_lists_the_four_subcommands():
    out = subprocess.run([sys.executable, "-m", "src.cli", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0
    for subcommand in ("fit", "validate", "test", "predict"):
        assert subcommand in out.stdout


def test_debug_preset_runs_one_batch_and_writes_nothing(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data")
    cli = run(
        "fit", *cli_args(data_dir, tmp_path / "logs"), "--config", str(ROOT / "configs" / "presets" / "debug.yaml")
    )
    assert cli.trainer.state.finished and cli.trainer.global_step == 1
    assert not (tmp_path / "logs").exists()


def test_fit_learns_and_keeps_best_and_last_checkpoints(trained):
    cli, _, _ = trained
    assert cli.trainer.current_epoch == 3
    assert cli.trainer.callback_metrics["val/acc"] > 0.9
    checkpoint_dir = Path(cli.trainer.checkpoint_callback.best_model_path).parent
    names = sorted(path.name for path in checkpoint_dir.iterdir())
    assert "last.ckpt" in names and any(name.startswith("epoch") for name in names)
    assert "/" not in Path(cli.trainer.checkpoint_callback.best_model_path).name
    # last.ckpt is the final epoch even when it did not improve val/acc (resume must not go back in time)
    last = torch.load(checkpoint_dir / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == cli.trainer.global_step


def test_validate_and_test_from_the_best_checkpoint(trained):
    cli, data_dir, logs = trained
    best = cli.trainer.checkpoint_callback.best_model_path
    validated = run("validate", *cli_args(data_dir, logs, "--ckpt_path", best))
    assert validated.trainer.callback_metrics["val/acc"] == pytest.approx(
        float(cli.trainer.checkpoint_callback.best_model_score)
    )
    tested = run("test", *cli_args(data_dir, logs, "--ckpt_path", best))
    assert tested.trainer.callback_metrics["test/acc"] > 0.9
    assert "test/loss" in tested.trainer.callback_metrics


def test_tensorboard_has_the_scalars_figures_and_pngs(trained):
    cli, _, _ = trained
    run_dir = Path(cli.trainer.log_dir)
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    expected = {"train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best", "lr-Adam"}
    assert expected <= scalars
    assert len(events.Scalars("val/acc")) == 3
    images = set(events.Tags()["images"])
    assert "val/confusion_matrix" in images
    for png in ("learning_curves.png", "confusion_matrix.png"):
        assert (run_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run_dir / "config.yaml").exists()


def test_checkpoint_holds_only_plain_values_and_rebuilds_the_network(trained):
    cli, _, _ = trained
    path = cli.trainer.checkpoint_callback.best_model_path
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert checkpoint["hyper_parameters"]["network"]["class_path"] == "src.models.seed_cnn.SeedCNN"
    model = DigitClassifier.load_from_checkpoint(path, map_location="cpu", weights_only=True)
    assert type(model.network).__name__ == "SeedCNN"
    for key, value in cli.model.state_dict().items():
        if key.startswith("network."):
            assert value.shape == model.state_dict()[key].shape


def test_fit_resumes_from_last_checkpoint_and_continues_the_epoch_count(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data")
    first = run("fit", *cli_args(data_dir, tmp_path / "logs", "--trainer.max_epochs", "1"))
    steps_per_epoch = first.trainer.global_step
    resumed = run("fit", *cli_args(data_dir, tmp_path / "logs", "--trainer.max_epochs", "3", "--ckpt_path", "last"))
    assert resumed.trainer.current_epoch == 3
    assert resumed.trainer.global_step == 3 * steps_per_epoch
    assert resumed.trainer.log_dir == first.trainer.log_dir  # curves continue in the same run folder
    state = resumed.trainer.optimizers[0].state_dict()["state"]
    assert state[0]["step"] == 3 * steps_per_epoch  # Adam's moments came back, not restarted


def test_overfit_preset_reaches_full_train_accuracy(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=80)
    cli = run(
        "fit",
        *cli_args(data_dir, tmp_path / "logs"),
        "--config", str(ROOT / "configs" / "presets" / "overfit.yaml"),
        "--trainer.max_epochs", "15",
        "--trainer.overfit_batches", "2",
    )  # fmt: skip
    assert cli.trainer.callback_metrics["train/acc"] == 1.0


def test_fast_recipe_runs_a_per_step_one_cycle_schedule_with_label_smoothing(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data")
    cli = run(
        "fit",
        *cli_args(data_dir, tmp_path / "logs", "--trainer.max_epochs", "2"),
        "--config", str(ROOT / "configs" / "fast.yaml"),
        "--data.batch_size", "20",
    )  # fmt: skip
    scheduler = cli.trainer.lr_scheduler_configs[0]
    assert isinstance(scheduler.scheduler, torch.optim.lr_scheduler.OneCycleLR)
    assert scheduler.interval == "step"
    assert scheduler.scheduler.total_steps == cli.trainer.global_step  # the cycle spans exactly the run
    assert cli.model.hparams.label_smoothing == 0.1  # the fast recipe's largest accuracy gain (README)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model.no_such_key", "1"], "no_such_key"),
        (["--data.batch_size", "many"], "batch_size"),
        (["--config", "configs/does-not-exist.yaml"], "does-not-exist.yaml"),
    ],
)
def test_config_mistakes_end_with_a_clear_message_and_non_zero_exit(args, expected, capsys):
    with pytest.raises(SystemExit) as exited:
        run("fit", "--config", SEED_RECIPE, *args)
    assert exited.value.code != 0
    assert expected in capsys.readouterr().err


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_writes_one_checkpoint(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data")
    args = cli_args(data_dir, tmp_path / "logs", "--trainer.max_epochs", "1")
    command = [sys.executable, "-m", "src.cli", "fit", *args,
               "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]  # fmt: skip
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    best = list((tmp_path / "logs").glob("mnist/version_*/checkpoints/epoch*.ckpt"))
    assert len(best) == 1
    assert len(list((tmp_path / "logs").glob("mnist/version_*"))) == 1  # rank 1 logged nothing of its own
