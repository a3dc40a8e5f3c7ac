"""Ensemble: member networks' probabilities averaged; one checkpoint built from the members' files; clear errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from src.data.belongs import TrainingRecord
from src.data.holdout import Folds
from src.models.classifier import DigitClassifier
from src.models.ensemble import Ensemble
from src.models.tutorial_cnn import TutorialCNN
from src.tools.ensemble_checkpoint import ensemble_checkpoint
from src.tools.networks import network_from_checkpoint
from src.utils import UserInputError
from tests.encoded_digits import READER, TUTORIAL_CNN, EncodedDigitReader, save_checkpoint

SEED_ARGS = {"dropout": 0.3, "num_classes": 10}
RECORD = TrainingRecord(
    fingerprint="ab" * 10, rows=100, image_size=(28, 28), num_classes=10, holdout=Folds(2, 0),
    held_out_rows="cd" * 10, pixel_mean=30.0, ink_fraction=0.1,
)  # fmt: skip


def tutorial_cnn_checkpoint(path: Path, seed: int, record: TrainingRecord | None = None) -> tuple[Path, TutorialCNN]:
    torch.manual_seed(seed)
    network = TutorialCNN().eval()
    save_checkpoint(path, network, TUTORIAL_CNN, SEED_ARGS)
    if record is not None:  # as the DataModule saves it in a fit checkpoint
        checkpoint = torch.load(path, weights_only=True)
        checkpoint["DigitCSVDataModule"] = {"training_data": record.to_dict()}
        torch.save(checkpoint, path)
    return path, network


def test_two_networks_give_the_mean_of_their_probabilities():
    torch.manual_seed(0)
    net_a, net_b = TutorialCNN().eval(), TutorialCNN().eval()
    images = torch.rand(6, 1, 28, 28)
    ensemble = DigitClassifier(network=Ensemble([net_a, net_b]), channels_last=False).eval()
    with torch.inference_mode():
        expected = (net_a(images).softmax(dim=1) + net_b(images).softmax(dim=1)) / 2
        got = ensemble.predict_step(images)
    assert not torch.allclose(net_a(images), net_b(images))  # two different members
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


def test_members_of_another_class_count_or_image_size_than_the_datas_are_refused():
    Ensemble([TutorialCNN(), TutorialCNN()], num_classes=10, image_size=(28, 28))  # the data's: accepted
    with pytest.raises(UserInputError, match=r"member 1 \(TutorialCNN\) predicts 3 classes; the data has 10"):
        Ensemble([TutorialCNN(), TutorialCNN(num_classes=3)], num_classes=10, image_size=(28, 28))
    with pytest.raises(UserInputError, match=r"member 0 \(TutorialCNN\) does not take the data's 20x20 images"):
        Ensemble([TutorialCNN()], num_classes=10, image_size=(20, 20))
    with pytest.raises(UserInputError, match="at least one member"):
        Ensemble([])


def test_a_checkpoint_of_members_of_different_architectures_rebuilds_each_with_its_weights(tmp_path):
    cnn_path, cnn = tutorial_cnn_checkpoint(tmp_path / "cnn.ckpt", 0)
    reader_path = save_checkpoint(tmp_path / "reader.ckpt", EncodedDigitReader(), READER)
    ensemble, metadata = network_from_checkpoint("ensemble", ensemble_checkpoint([cnn_path, reader_path]))
    assert [type(m) for m in ensemble.members] == [TutorialCNN, EncodedDigitReader]
    assert ensemble.members[0][-2].p == 0.3  # Dropout from the member's init_args
    for (name, saved), loaded in zip(cnn.state_dict().items(), ensemble.members[0].state_dict().values(), strict=True):
        assert torch.equal(saved, loaded), name
    assert metadata["ensemble"]["members"] == [{"checkpoint": str(cnn_path)}, {"checkpoint": str(reader_path)}]
    images = torch.rand(3, 1, 28, 28)
    with torch.inference_mode():
        expected = (cnn(images).softmax(1) + EncodedDigitReader()(images).softmax(1)) / 2
        torch.testing.assert_close(ensemble(images).softmax(1), expected, atol=1e-6, rtol=1e-5)


def test_the_record_is_the_members_or_their_union_and_one_train_csv_is_required(tmp_path):
    def record_of(*records: TrainingRecord) -> dict:
        paths = [tutorial_cnn_checkpoint(tmp_path / f"{i}.ckpt", i, r)[0] for i, r in enumerate(records)]
        return ensemble_checkpoint(paths)["DigitCSVDataModule"]["training_data"]

    assert record_of(RECORD, RECORD) == RECORD.to_dict()  # seeds of one split
    other_fold = dataclasses.replace(RECORD, holdout=Folds(2, 1), held_out_rows="ef" * 10, pixel_mean=32.0)
    union = TrainingRecord.from_dict(record_of(RECORD, other_fold))
    assert union.train_on_all and union.held_out_rows is None  # validate refuses it
    assert union.pixel_mean == 31.0 and union.fingerprint == RECORD.fingerprint
    with pytest.raises(UserInputError, match="an ensemble's members share one train.csv"):
        record_of(RECORD, dataclasses.replace(RECORD, fingerprint="ff" * 10))


def test_ensemble_errors_name_the_checkpoint(tmp_path):
    good, _ = tutorial_cnn_checkpoint(tmp_path / "good.ckpt", 0)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[:500])
    mismatched = save_checkpoint(tmp_path / "lying.ckpt", EncodedDigitReader(), TUTORIAL_CNN, SEED_ARGS)
    unknown = save_checkpoint(tmp_path / "unknown.ckpt", EncodedDigitReader(), "nowhere.Network")
    untrained = save_checkpoint(tmp_path / "untrained.ckpt", EncodedDigitReader(), READER, global_step=0)
    cases = {
        tmp_path / "missing.ckpt": "not found",
        truncated: "truncated or corrupted",
        mismatched: "another architecture",
        unknown: "cannot rebuild network nowhere.Network",
        untrained: "never took a training step",
    }
    for path, message in cases.items():
        with pytest.raises(UserInputError, match=message) as error:
            ensemble_checkpoint([good, path])
        assert str(path) in str(error.value)
    with pytest.raises(UserInputError, match="at least one member checkpoint"):
        ensemble_checkpoint([])
