"""A checkpoint file never runs code: a class it names is rebuilt only if it is a torch.nn.Module, everywhere."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image
from pytorch_lightning.core import saving

from src.cli import main as cli_main
from tests.conftest import eval_args, fit_args, tool
from tests.encoded_digits import READER, EncodedDigitReader, write_encoded_csvs

POPEN = "subprocess.Popen"
ENSEMBLE = "src.models.ensemble.Ensemble"


def hostile_checkpoint(path: Path, marker: Path, nested: bool = False) -> Path:
    """A checkpoint that loads with ``weights_only=True`` (plain values only) and whose network, rebuilt naively,
    is ``subprocess.Popen(["touch", marker])``; ``nested`` hides it inside a real network's ``init_args``."""
    popen = {"class_path": POPEN, "init_args": {"args": ["touch", str(marker)]}}
    tutorial = {"class_path": "src.models.tutorial_cnn.TutorialCNN", "init_args": {"dropout": popen}}
    checkpoint = {
        "state_dict": {},
        "hyper_parameters": {"network": tutorial if nested else popen, "num_classes": 10, "image_size": [28, 28]},
        "pytorch-lightning_version": pl.__version__,
        "epoch": 0,
        "global_step": 10,
    }
    torch.save(checkpoint, path)
    return path


def hostile_ensemble(tmp_path: Path, marker: Path, nested: bool = False) -> Path:
    """An ensemble checkpoint as ``python -m src.tools seeds`` writes it, whose second member is the hostile network
    (``hostile_checkpoint``'s) beside a harmless one: hidden one level deeper than a checkpoint's own network."""
    harmless = EncodedDigitReader()
    hostile = torch.load(hostile_checkpoint(tmp_path / "member.ckpt", marker, nested), weights_only=True)
    members = [{"class_path": READER, "init_args": {}}, hostile["hyper_parameters"]["network"]]
    checkpoint = {
        **hostile,
        "state_dict": {f"network.members.0.{k}": v for k, v in harmless.state_dict().items()},
        "hyper_parameters": {
            "network": {"class_path": ENSEMBLE, "init_args": {"members": members, "num_classes": 10}},
            "num_classes": 10,
            "image_size": [28, 28],
        },
        "ensemble": {"members": [{"checkpoint": "harmless.ckpt"}, {"checkpoint": "member.ckpt"}]},
    }
    path = tmp_path / "ensemble.ckpt"
    torch.save(checkpoint, path)
    return path


def commands(tmp_path: Path, weights: Path, ensemble: Path) -> dict[str, list]:
    """Every command that loads a checkpoint, given ``weights`` (or an ensemble checkpoint ``ensemble`` holding it)."""
    data, logs, out = write_encoded_csvs(tmp_path / "data", np.arange(10)), tmp_path / "logs", tmp_path / "out"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "digit.png")
    ckpt = ["--ckpt_path", str(weights)]
    cli = {sub: (cli_main, eval_args(sub, data, logs, *ckpt)) for sub in ("validate", "test", "predict")}
    return {
        **cli,
        "fit --ckpt_path (resume)": (cli_main, fit_args(data, logs, *ckpt)),
        "export": (tool("export"), [*ckpt, "--output", str(out / "m.onnx")]),
        "images": (tool("images"), [str(tmp_path / "digit.png"), *ckpt, "--output", str(out / "i.csv")]),
        "serve": (tool("serve"), [*ckpt, "--port", "1"]),  # refused before it listens
        "export --ensemble": (tool("export"), ["--ensemble", f"{weights},{weights}", "--output", str(out / "e.onnx")]),
        "predict an ensemble": (cli_main, eval_args("predict", data, logs, "--ckpt_path", str(ensemble))),
        "images with an ensemble": (tool("images"), [str(tmp_path / "digit.png"), "--ckpt_path", str(ensemble)]),
    }


COMMANDS = [
    "validate", "test", "predict", "fit --ckpt_path (resume)", "export", "images", "serve", "export --ensemble",
    "predict an ensemble", "images with an ensemble",
]  # fmt: skip


@pytest.mark.parametrize("nested", [False, True], ids=["network", "nested in its init_args"])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_checkpoint_naming_a_class_that_is_not_a_network_is_refused_before_it_runs(tmp_path, capsys, command, nested):
    marker = tmp_path / "ran"
    hostile = hostile_checkpoint(tmp_path / "hostile.ckpt", marker, nested)
    main, args = commands(tmp_path, hostile, hostile_ensemble(tmp_path, marker, nested))[command]
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(args)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert stopped.value.code == 2 and "Traceback" not in err
    assert len(errors) == 1 and f"names {POPEN} as its network, which is not a torch.nn.Module" in errors[0], err
    assert not marker.exists()
    assert not (tmp_path / "out").exists() and not list((tmp_path / "logs").glob("*/version_*"))


@pytest.mark.parametrize("subcommand", ["validate", "test", "predict"])
def test_an_ensemble_checkpoint_hiding_such_a_member_is_refused_by_the_cli_before_it_runs(tmp_path, capsys, subcommand):
    marker = tmp_path / "ran"
    ensemble = hostile_ensemble(tmp_path, marker)
    data = write_encoded_csvs(tmp_path / "data", np.arange(10))
    with pytest.raises(SystemExit) as exit_info:
        cli_main(eval_args(subcommand, data, tmp_path / "logs", "--ckpt_path", str(ensemble)))
    error = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert exit_info.value.code == 2 and len(error) == 1
    assert f"names {POPEN} as its network, which is not a torch.nn.Module" in error[0]
    assert not marker.exists()


def write_marker(*args) -> None:
    """What a checkpoint's ``_instantiator`` names below: Lightning's load_from_checkpoint would call it."""
    Path(os.environ["DIGITS_TEST_MARKER"]).touch()


@pytest.mark.parametrize("subcommand", ["validate", "fit"])
def test_no_command_calls_the_instantiator_a_checkpoint_names(trained_run, tmp_path, monkeypatch, subcommand):
    """Lightning before 2.6.6 calls a checkpoint's ``_instantiator`` in ``load_from_checkpoint`` (``_load_state``):
    no command of this project goes through it, so the pyproject floor may stay below 2.6.6. (A resume restores the
    3 epochs trained and stops at max_epochs 3.)"""
    marker, calls = tmp_path / "ran", []
    monkeypatch.setattr(saving, "_load_state", lambda *args, **kwargs: calls.append(args))
    monkeypatch.setenv("DIGITS_TEST_MARKER", str(marker))
    checkpoint = torch.load(trained_run.last, weights_only=True)
    checkpoint["hyper_parameters"]["_instantiator"] = f"{__name__}.write_marker"
    run = tmp_path / "logs" / "mnist" / "version_0"
    shutil.copytree(trained_run.run_dir, run)
    torch.save(checkpoint, run / "checkpoints" / "last.ckpt")
    args = fit_args(trained_run.data_dir, tmp_path / "logs", "--ckpt_path", "last", "--trainer.max_epochs", "3")
    cli_main([subcommand, *args[1:]])
    assert not calls and not marker.exists()
