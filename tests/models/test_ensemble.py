"""CheckpointEnsemble: members rebuilt from their checkpoints, probabilities averaged, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from src.models.classifier import DigitClassifier
from src.models.ensemble import CheckpointEnsemble
from src.models.tutorial_cnn import TutorialCNN
from src.utils import UserInputError
from tests.encoded_digits import READER, TUTORIAL_CNN, EncodedDigitReader, save_checkpoint

SEED_ARGS = {"dropout": 0.3, "num_classes": 10}


def tutorial_cnn_checkpoint(path: Path, seed: int) -> tuple[Path, TutorialCNN]:
    torch.manual_seed(seed)
    network = TutorialCNN().eval()
    return save_checkpoint(path, network, TUTORIAL_CNN, SEED_ARGS), network


def test_two_checkpoints_give_the_mean_of_their_probabilities(tmp_path):
    (path_a, net_a), (path_b, net_b) = (tutorial_cnn_checkpoint(tmp_path / f"{s}.ckpt", s) for s in (1, 2))
    images = torch.rand(6, 1, 28, 28)
    ensemble = DigitClassifier(network=CheckpointEnsemble([str(path_a), str(path_b)]), channels_last=False).eval()
    with torch.inference_mode():
        expected = (net_a(images).softmax(dim=1) + net_b(images).softmax(dim=1)) / 2
        got = ensemble.predict_step(images)
    assert not torch.allclose(net_a(images), net_b(images))  # two different members
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


def test_members_may_differ_in_architecture(tmp_path):
    cnn_path, cnn = tutorial_cnn_checkpoint(tmp_path / "cnn.ckpt", 0)
    reader_path = save_checkpoint(tmp_path / "reader.ckpt", EncodedDigitReader(), READER)
    ensemble = CheckpointEnsemble([str(cnn_path), str(reader_path)]).eval()
    assert [type(m) for m in ensemble.members] == [TutorialCNN, EncodedDigitReader]
    images = torch.rand(3, 1, 28, 28)
    with torch.inference_mode():
        expected = (cnn(images).softmax(1) + EncodedDigitReader()(images).softmax(1)) / 2
        torch.testing.assert_close(ensemble(images).softmax(1), expected, atol=1e-6, rtol=1e-5)


def test_a_member_keeps_its_saved_weights_and_init_args(tmp_path):
    path, network = tutorial_cnn_checkpoint(tmp_path / "a.ckpt", 3)
    (member,) = CheckpointEnsemble([str(path)]).members
    assert member[-2].p == 0.3  # Dropout from init_args
    for (name, saved), loaded in zip(network.state_dict().items(), member.state_dict().values(), strict=True):
        assert torch.equal(saved, loaded), name


def test_ensemble_errors_name_the_checkpoint(tmp_path):
    good, _ = tutorial_cnn_checkpoint(tmp_path / "good.ckpt", 0)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[:500])
    mismatched = save_checkpoint(tmp_path / "lying.ckpt", EncodedDigitReader(), TUTORIAL_CNN, SEED_ARGS)
    unknown = save_checkpoint(tmp_path / "unknown.ckpt", EncodedDigitReader(), "nowhere.Network")
    cases = {
        tmp_path / "missing.ckpt": "not found",
        truncated: "truncated or corrupted",
        mismatched: "another architecture",
        unknown: "cannot rebuild network nowhere.Network",
    }
    for path, message in cases.items():
        with pytest.raises(UserInputError, match=message) as error:
            CheckpointEnsemble([str(good), str(path)])
        assert str(path) in str(error.value)
    with pytest.raises(UserInputError, match="at least one checkpoint"):
        CheckpointEnsemble([])
