"""Checkpoints: never half-written, never unpickling code, unreadable ones named clearly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from src.checkpoints import AtomicCheckpointIO, read_checkpoint
from src.utils import UserInputError


def checkpoint(value: float) -> dict:
    return {"state_dict": {"w": torch.full((3,), value)}, "epoch": 1}


def test_save_then_load_round_trips(tmp_path):
    io = AtomicCheckpointIO()
    io.save_checkpoint(checkpoint(1.0), tmp_path / "last.ckpt")
    loaded = io.load_checkpoint(tmp_path / "last.ckpt")
    assert torch.equal(loaded["state_dict"]["w"], torch.ones(3))


def test_a_save_interrupted_mid_write_keeps_the_previous_file(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint(checkpoint(1.0), path)
    real_save = torch.save

    def save_half_then_die(obj, handle, *args, **kwargs):
        real_save(obj, handle)
        handle.truncate(handle.tell() // 2)
        raise KeyboardInterrupt  # what a Ctrl-C in the middle of the write looks like

    monkeypatch.setattr(torch, "save", save_half_then_die)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint(checkpoint(2.0), path)
    assert torch.equal(read_checkpoint(path)["state_dict"]["w"], torch.ones(3))
    assert os.listdir(tmp_path) == ["last.ckpt"]  # no temp file left behind


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_checkpoint_is_one_clear_error_naming_the_file(tmp_path, damage):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint(checkpoint(1.0), path)
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": os.urandom(500), "empty": b""}[damage])
    with pytest.raises(UserInputError, match="last.ckpt is truncated or corrupted.*--ckpt_path"):
        read_checkpoint(path)


def test_a_missing_checkpoint_says_so(tmp_path):
    with pytest.raises(UserInputError, match="not found"):
        read_checkpoint(tmp_path / "nope.ckpt")


class Payload:
    """Unpickling this would run os.system; weights_only must refuse it before it runs."""

    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('PAYLOAD_MARKER', '/tmp/payload-ran')}",))


def test_a_checkpoint_carrying_a_pickled_callable_is_refused(tmp_path, monkeypatch):
    marker = tmp_path / "payload-ran"
    monkeypatch.setenv("PAYLOAD_MARKER", str(marker))
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hook": Payload()}, path)
    with pytest.raises(UserInputError, match="refused"):
        read_checkpoint(path)
    assert not marker.exists()


def test_a_checkpoint_naming_a_replaced_class_path_is_refused_in_one_line_naming_its_replacement(tmp_path, capsys):
    from src.cli import main
    from src.models.tutorial_cnn import TutorialCNN
    from tests.encoded_digits import save_checkpoint
    from tests.learnable_digits import write_learnable_csvs

    old = save_checkpoint(tmp_path / "old.ckpt", TutorialCNN(), "src.models.seed_cnn.SeedCNN", {"dropout": 0.3})
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=20, n_test=10)
    submission = tmp_path / "submission.csv"
    args = ["predict", "--data.data_dir", str(data_dir), "--ckpt_path", str(old)]
    with pytest.raises(SystemExit) as exit_code:
        main([*args, "--submission.output", str(submission)])
    assert exit_code.value.code == 2 and not submission.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "src.models.seed_cnn.SeedCNN" in err[0] and "src.models.tutorial_cnn.TutorialCNN replaces" in err[0]
    assert err[0].endswith(f"convert the checkpoint with `python -m src.tools upgrade {old}`")  # what converts it


def test_a_recipe_listing_its_own_plugins_still_writes_checkpoints_atomically(tmp_path, monkeypatch, capsys):
    from src.cli import main
    from tests.conftest import fit_args
    from tests.learnable_digits import write_learnable_csvs

    saved, save = [], AtomicCheckpointIO.save_checkpoint

    def spy(self, checkpoint, path, storage_options=None):
        saved.append(Path(path).name)
        save(self, checkpoint, path, storage_options)

    monkeypatch.setattr(AtomicCheckpointIO, "save_checkpoint", spy)
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=40, n_test=10)
    plugin = "lightning_fabric.plugins.environments.LightningEnvironment"  # a recipe's list replaces the default's
    cli = main(fit_args(data_dir, tmp_path / "logs", "--trainer.max_epochs", "1", "--trainer.plugins", plugin))
    assert isinstance(cli.trainer.strategy.checkpoint_io, AtomicCheckpointIO) and "last.ckpt" in saved
    config = (Path(cli.trainer.log_dir) / "config.yaml").read_text()
    assert plugin in config and "src.checkpoints.AtomicCheckpointIO" in config  # config.yaml shows what ran

    other_io = ["--trainer.plugins", "lightning_fabric.plugins.io.TorchCheckpointIO"]  # would write non-atomically
    with pytest.raises(SystemExit) as refused:
        main(fit_args(data_dir, tmp_path / "other", "--trainer.max_epochs", "1", *other_io))
    assert refused.value.code == 2 and not (tmp_path / "other").exists()
    assert "trainer.plugins: remove TorchCheckpointIO;" in capsys.readouterr().err
