"""The averaged-weights preset (configs/presets/ema.yaml): a checkpoint's weights are the exponential moving average,
so every command and tool reading ``state_dict`` uses it; evaluations run without the callback; a resume after a
kill continues the average instead of restarting it from the raw weights."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import warnings

import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.callbacks import EMAWeightAveraging

from src.cli import main, run
from tests.conftest import ROOT, eval_args, fit_args
from tests.learnable_digits import write_learnable_csvs
from tests.test_resume import fit_command, last_checkpoint

PRESET = ROOT / "configs" / "presets" / "ema.yaml"
DECAY = yaml.safe_load(PRESET.read_text())["trainer"]["callbacks+"][0]["init_args"]["decay"]


class RawWeightsAverage(pl.Callback):
    """The EMA of the raw weights after every optimizer step, kept here independently of the library's callback."""

    def __init__(self) -> None:
        self.average: dict[str, torch.Tensor] | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        weights = {k: v.detach().clone() for k, v in pl_module.state_dict().items() if v.is_floating_point()}
        if self.average is None:
            self.average = weights
        else:
            for key, value in weights.items():
                self.average[key] = DECAY * self.average[key] + (1 - DECAY) * value


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ema")
    data_dir = write_learnable_csvs(root / "data")
    recorder = RawWeightsAverage()
    args = fit_args(data_dir, root / "logs", "--config", str(PRESET), "--trainer.max_epochs", "2")
    cli = run(args, callbacks=[recorder])
    return cli, recorder, data_dir, root / "logs"


def test_the_checkpoint_weights_are_the_average_and_the_raw_ones_are_kept_beside_them(ema_run):
    cli, recorder, _, _ = ema_run
    assert any(isinstance(c, EMAWeightAveraging) for c in cli.trainer.callbacks)
    assert {c.class_path.rsplit(".", 1)[-1] for c in cli.config.fit.trainer.callbacks} >= {
        "ModelCheckpoint",
        "EarlyStopping",
        "ValidationFigures",
    }  # the recipe's callbacks stay: the preset appends
    last = torch.load(ROOT / cli.trainer.log_dir / "checkpoints" / "last.ckpt", weights_only=True)
    for key, average in recorder.average.items():
        torch.testing.assert_close(last["state_dict"][key], average, rtol=1e-5, atol=1e-6, msg=key)
    raw = last["current_model_state"]
    assert any(not torch.equal(raw[key], last["state_dict"][key]) for key in recorder.average)


def test_predict_uses_the_averaged_weights_and_evaluations_run_without_the_callback(ema_run, tmp_path):
    cli, _, data_dir, logs = ema_run
    last = torch.load(ROOT / cli.trainer.log_dir / "checkpoints" / "last.ckpt", weights_only=True)
    raw_weights = tmp_path / "raw.ckpt"  # the same run's checkpoint with its raw weights in state_dict
    torch.save({**last, "state_dict": last["current_model_state"]}, raw_weights)
    probabilities = {}
    for name, ckpt in (("averaged", "last"), ("raw", str(raw_weights))):
        output = tmp_path / f"{name}.csv"
        args = eval_args("predict", data_dir, logs, "--config", str(PRESET), "--ckpt_path", ckpt)
        args += ["--submission.output", str(tmp_path / f"{name}_submission.csv")]
        args += ["--submission.probabilities_output", str(output)]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            predicted = main(args)
        assert not any(isinstance(c, EMAWeightAveraging) for c in predicted.trainer.callbacks)
        assert not [w for w in caught if "WeightAveraging" in str(w.message)]
        probabilities[name] = pd.read_csv(output).drop(columns="ImageId").to_numpy()
        if name == "averaged":
            for key, value in predicted.model.state_dict().items():
                torch.testing.assert_close(value, last["state_dict"][key], msg=key)
    assert (probabilities["averaged"] != probabilities["raw"]).any()


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_its_average_instead_of_restarting_it(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=300, n_test=20)  # 64 steps an epoch
    logs = tmp_path / "logs"
    command = fit_command(data_dir, logs, "--config", str(PRESET))
    with (tmp_path / "first.out").open("w") as first_out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=first_out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 240
        while last_checkpoint(logs) is None and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # inside epoch 1, the last
        assert process.poll() is None, "the run ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    killed = torch.load(last_checkpoint(logs), map_location="cpu", weights_only=True)
    steps_per_epoch = killed["global_step"]
    assert killed["epoch"] == 0 and killed["averaging_state"]["n_averaged"] == steps_per_epoch

    resumed = subprocess.run([*command, "--ckpt_path", "last"], cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "not created with WeightAveraging" not in resumed.stderr
    final = torch.load(last_checkpoint(logs), map_location="cpu", weights_only=True)
    assert final["global_step"] == 2 * steps_per_epoch
    # One update per step of both epochs: the killed run's average went on; a restarted one would count one epoch.
    assert final["averaging_state"]["n_averaged"] == 2 * steps_per_epoch
    weights = [key for key, value in final["state_dict"].items() if value.is_floating_point()]
    assert any(not torch.equal(final["state_dict"][k], final["current_model_state"][k]) for k in weights)
