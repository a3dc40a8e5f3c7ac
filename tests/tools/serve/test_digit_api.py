"""The inference side: weights loaded by load_predictor, batches of digits in, label and 10 probabilities out."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from src.tools.serve.digit_api import DigitAPI
from src.tools.serve.request_check import DIGIT_KEY
from tests.encoded_digits import READER, EncodedDigitReader, encoded_images, save_checkpoint

DIGITS = np.array([3, 0, 9, 7, 7, 1])


def as_forwarded(digit: np.ndarray) -> dict:
    """What DigitRequestCheck hands LitServe for a checked digit."""
    return {DIGIT_KEY: base64.b64encode(digit.tobytes()).decode()}


@pytest.fixture
def reader_checkpoint(tmp_path):
    return save_checkpoint(tmp_path / "reader.ckpt", EncodedDigitReader(), READER)


def answers(api: DigitAPI, digits: np.ndarray) -> list[dict]:
    batch = api.batch([api.decode_request(as_forwarded(image)) for image in encoded_images(digits)])
    return [api.encode_response(row) for row in api.unbatch(api.predict(batch))]


def test_a_batch_gets_one_answer_per_digit_in_order(reader_checkpoint):
    api = DigitAPI(str(reader_checkpoint), max_batch_size=8)
    api.pre_setup()
    api.setup("cpu")
    replies = answers(api, DIGITS)
    assert [reply["label"] for reply in replies] == DIGITS.tolist()
    for reply in replies:
        assert len(reply["probabilities"]) == 10
        assert sum(reply["probabilities"]) == pytest.approx(1, abs=1e-4)
        assert max(reply["probabilities"]) == reply["probabilities"][reply["label"]]


def test_with_batching_off_one_digit_gets_one_answer(reader_checkpoint):
    api = DigitAPI(str(reader_checkpoint), max_batch_size=1)
    api.setup("cpu")
    digit = api.decode_request(as_forwarded(encoded_images(np.array([4]))[0]))
    assert api.encode_response(api.predict(digit))["label"] == 4


def test_a_list_of_checkpoints_is_served_as_their_ensemble(tmp_path):
    members = [str(save_checkpoint(tmp_path / f"member{i}.ckpt", EncodedDigitReader(), READER)) for i in range(2)]
    api = DigitAPI(members, max_batch_size=8)
    api.pre_setup()
    api.setup("cpu")
    assert api.predictor.source == "ensemble of 2"
    assert [reply["label"] for reply in answers(api, DIGITS)] == DIGITS.tolist()
