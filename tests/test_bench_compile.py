"""``--model.compile``, the training-speed switch ``make bench`` measures: the network is compiled in place for
``fit`` only, so its checkpoints load in ``test`` and ``predict`` (no ``_orig_mod.`` in the keys)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from src.cli import main
from src.models.classifier import DigitClassifier
from tests.conftest import eval_args, fit_args
from tests.learnable_digits import write_learnable_csvs


def test_compile_compiles_the_network_in_place_for_fit_only():
    model = DigitClassifier(compile=True)
    keys = list(model.state_dict())
    model.setup("predict")
    assert model.network._compiled_call_impl is None  # test, predict and export run the network eager
    model.setup("fit")
    assert model.network._compiled_call_impl is not None
    assert list(model.state_dict()) == keys and not [key for key in keys if "_orig_mod" in key]
    plain = DigitClassifier()
    plain.setup("fit")
    assert plain.network._compiled_call_impl is None  # off unless asked for


@pytest.mark.slow
def test_a_checkpoint_trained_compiled_loads_for_test_and_predict(tmp_path):
    data_dir, logs = write_learnable_csvs(tmp_path / "data"), tmp_path / "logs"
    fitted = main(fit_args(data_dir, logs, "--model.compile", "true", "--trainer.max_epochs", "1"))
    assert fitted.model.network._compiled_call_impl is not None  # the fit did run compiled
    checkpoint_path = fitted.trainer.checkpoint_callback.best_model_path
    checkpoint = torch.load(checkpoint_path, weights_only=True)
    assert checkpoint["hyper_parameters"]["compile"] is True
    assert not [key for key in checkpoint["state_dict"] if "_orig_mod" in key]

    tested = main(eval_args("test", data_dir, logs, "--ckpt_path", checkpoint_path))
    assert tested.model.network._compiled_call_impl is None
    trained = {k: v for k, v in checkpoint["state_dict"].items() if k.startswith("network.")}
    assert all(torch.equal(tested.model.state_dict()[k], v) for k, v in trained.items())
    assert 0 <= float(tested.trainer.callback_metrics["test/acc"]) <= 1

    submission = tmp_path / "submission.csv"
    main(eval_args("predict", data_dir, logs, "--ckpt_path", checkpoint_path, "--submission.output", str(submission)))
    written = pd.read_csv(submission)
    assert len(written) == len(pd.read_csv(data_dir / "test.csv")) and written["Label"].between(0, 9).all()
