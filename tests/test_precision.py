"""Which precision the project picks per machine and per accelerator, and that the CLI honours an override."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from src.cli import main
from src.utils import cpu_has_native_bf16, fastest_precision
from tests.learnable_digits import write_learnable_csvs

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ["--config", str(ROOT / "configs" / "presets" / "debug.yaml")]


def fake_hardware(
    monkeypatch, *, avx512_bf16: bool = False, amx: bool = False, gpu: bool = False, gpu_bf16: bool = False
) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: gpu_bf16)


@pytest.mark.parametrize(
    ("hardware", "expected"),
    [
        ({}, "32-true"),  # AVX2-only or older CPU: emulated bf16 would be slower than fp32
        ({"avx512_bf16": True}, "bf16-mixed"),
        ({"amx": True}, "bf16-mixed"),
        ({"gpu": True, "gpu_bf16": True}, "bf16-mixed"),
        ({"gpu": True, "gpu_bf16": False}, "16-mixed"),  # pre-Ampere GPU
    ],
)
def test_bf16_is_chosen_only_where_the_hardware_runs_it(monkeypatch, hardware, expected):
    fake_hardware(monkeypatch, **hardware)
    assert fastest_precision() == expected


def test_a_gpu_that_only_emulates_bf16_gets_16_mixed(monkeypatch):
    # A T4 stores bf16 tensors, so torch's default check says yes; without bf16 hardware its convolutions are slow.
    fake_hardware(monkeypatch, gpu=True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert fastest_precision() == "16-mixed"


def test_a_cpu_run_ignores_the_gpu(monkeypatch):
    fake_hardware(monkeypatch, gpu=True, gpu_bf16=True)
    assert fastest_precision("cpu") == "32-true"


def test_torch_without_the_cpu_probes_falls_back_to_fp32(monkeypatch):
    fake_hardware(monkeypatch)
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    assert not cpu_has_native_bf16()
    assert fastest_precision() == "32-true"


def chosen_precision(tmp_path, *extra: str) -> str:
    """The precision a real (one-batch) fit ran with, as the CLI chose it."""
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=40, n_test=10)
    cli = main(["fit", *CONFIGS, "--data.data_dir", str(data_dir), *extra])
    return cli.config.fit.trainer.precision


@pytest.mark.parametrize(("native_bf16", "expected"), [(True, "bf16-mixed"), (False, "32-true")])
def test_cli_default_follows_the_hardware(tmp_path, monkeypatch, native_bf16, expected):
    fake_hardware(monkeypatch, avx512_bf16=native_bf16)
    assert chosen_precision(tmp_path) == expected


def test_the_default_is_chosen_for_the_accelerator_the_trainer_uses(tmp_path, monkeypatch):
    # On a machine with an old GPU, a CPU run must not get the GPU's 16-mixed (emulated bf16 on most CPUs).
    asked: list[str] = []

    def spy(accelerator: str = "auto") -> str:
        asked.append(accelerator)
        return fastest_precision(accelerator)

    monkeypatch.setattr("src.cli.fastest_precision", spy)
    chosen_precision(tmp_path, "--trainer.accelerator", "cpu")
    assert asked == ["cpu"]
    fake_hardware(monkeypatch, gpu=True, gpu_bf16=False)  # the choice itself, with such a GPU present
    assert fastest_precision("cpu") == "32-true" and fastest_precision("auto") == "16-mixed"


@pytest.mark.parametrize("override", ["32-true", "bf16-mixed"])
def test_cli_precision_override_is_respected(tmp_path, override):
    assert chosen_precision(tmp_path, "--trainer.precision", override) == override
