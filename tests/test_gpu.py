"""The GPU path, on a real CUDA GPU: the precision chosen, the DDP preset on one device, the notebook recipe.

Every other test runs on the CPU (CUDA mocked where it matters); these skip, saying why, where torch finds no CUDA
device. On a machine with one: ``python -m pytest -m gpu``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from src.cli import main
from src.utils import fastest_precision
from tests.conftest import ROOT
from tests.learnable_digits import write_learnable_csvs

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here: these tests need one"),
]


def gpu_fit(tmp_path: Path, *extra: str):
    """One short fit on the GPU of 200 learnable rows, precision left to the CLI."""
    data = write_learnable_csvs(tmp_path / "data")
    return main([
        "fit", *extra,
        "--data.data_dir", str(data),
        "--data.batch_size", "20",
        "--trainer.accelerator", "gpu",
        "--trainer.devices", "1",
        "--trainer.max_epochs", "2",
        "--trainer.logger.init_args.save_dir", str(tmp_path / "logs"),
    ])  # fmt: skip


def test_the_precision_chosen_for_this_gpu_is_what_trains(tmp_path):
    native_bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    assert fastest_precision("gpu") == ("bf16-mixed" if native_bf16 else "16-mixed")
    cli = gpu_fit(tmp_path)
    assert cli.trainer.precision == fastest_precision("gpu")
    assert next(cli.model.parameters()).device.type == "cuda"
    assert float(cli.trainer.callback_metrics["val/acc"]) > 0.5


def test_the_ddp_preset_trains_on_one_device(tmp_path):
    cli = gpu_fit(tmp_path, "--config", str(ROOT / "configs" / "presets" / "ddp.yaml"))
    assert cli.trainer.world_size == 1
    assert (Path(cli.trainer.log_dir) / "checkpoints" / "last.ckpt").is_file()


def test_the_notebook_recipe_trains_on_the_gpu(tmp_path):
    cli = gpu_fit(tmp_path, "--config", str(ROOT / "configs" / "notebook.yaml"))
    assert cli.trainer.current_epoch == 2
    assert (Path(cli.trainer.log_dir) / "checkpoints" / "last.ckpt").is_file()
