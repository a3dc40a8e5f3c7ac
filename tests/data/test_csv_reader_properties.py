"""Properties of read_digit_csv on random files: well-formed ones round-trip exactly; damaged ones give
back exactly what was written or a DigitCSVError, never another exception or silently different data."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src.data.csv_reader import DigitCSVError, read_digit_csv
from tests.synthetic import PIXEL_COLUMNS

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def digit_tables(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray | None]:
    """1..4 images (pixels from a drawn seed: cheap to generate, short to print) and maybe labels."""
    n = draw(st.integers(1, 4))
    images = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, 256, (n, 784), dtype=np.uint8)
    labels = draw(st.none() | st.lists(st.integers(0, 9), min_size=n, max_size=n).map(np.array))
    return images, labels


def csv_rows(images: np.ndarray, labels: np.ndarray | None) -> list[list[str]]:
    header = (["label"] if labels is not None else []) + PIXEL_COLUMNS
    rows = [header]
    for i, image in enumerate(images):
        rows.append(([str(labels[i])] if labels is not None else []) + [str(v) for v in image])
    return rows


def encode(rows: list[list[str]], newline: str = "\n") -> bytes:
    return (newline.join(",".join(row) for row in rows) + newline).encode()


def read(path: Path, data: bytes, require_label: bool):
    path.write_bytes(data)
    return read_digit_csv(path, require_label=require_label)


def assert_same(table, images: np.ndarray, labels: np.ndarray | None) -> None:
    assert torch.equal(table.images, torch.from_numpy(images).reshape(-1, 1, 28, 28))
    if labels is None:
        assert table.labels is None
    else:
        assert table.labels is not None and torch.equal(table.labels, torch.from_numpy(labels))


@SETTINGS
@given(
    table=digit_tables(),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
    gzipped=st.booleans(),
    column_seed=st.none() | st.integers(0, 2**32 - 1),
)
def test_well_formed_files_round_trip_exactly(tmp_path, table, newline, bom, gzipped, column_seed) -> None:
    images, labels = table
    rows = csv_rows(images, labels)
    if column_seed is not None:
        order = np.random.default_rng(column_seed).permutation(len(rows[0]))
        rows = [[row[i] for i in order] for row in rows]
    data = (b"\xef\xbb\xbf" if bom else b"") + encode(rows, newline)
    result = read(tmp_path / "train.csv", gzip.compress(data) if gzipped else data, labels is not None)
    assert_same(result, images, labels)


def intended_value(text: str) -> float | None:
    """What a person means by a cell: a finite number, or None when the text is not one."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


CELL_TEXT = st.text(alphabet="0123456789-+.e xNa", max_size=5) | st.sampled_from(
    ["", "nan", "inf", "-0", "1e2", "255.0", "256", "3.5", "True", "NA", "None", "0x10", " 7 "]
)


@SETTINGS
@given(table=digit_tables(), edits=st.lists(st.tuples(st.integers(0), st.integers(0), CELL_TEXT), max_size=3))
def test_edited_cells_are_read_as_meant_or_refused(tmp_path, table, edits) -> None:
    images, labels = table
    rows = csv_rows(images, labels)
    values = np.array([[float(cell) for cell in row] for row in rows[1:]])
    edited = set()
    for row, col, text in edits:
        edited.add((1 + row % len(images), col % len(rows[0])))
        rows[1 + row % len(images)][col % len(rows[0])] = text
    meant_valid = True
    for row, col in edited:
        value = intended_value(rows[row][col])
        high = 9 if rows[0][col] == "label" else 255
        meant_valid &= value is not None and value == int(value) and 0 <= value <= high
        values[row - 1, col] = value if value is not None else np.nan
    try:
        result = read(tmp_path / "train.csv", encode(rows), labels is not None)
    except DigitCSVError:
        return
    assert meant_valid, f"accepted cells {[rows[r][c] for r, c in edited]!r}"
    new_labels = values[:, 0].astype(np.int64) if labels is not None else None
    assert_same(result, values[:, 1 if labels is not None else 0 :].astype(np.uint8), new_labels)


# Byte edits that can never turn one valid integer into another: no digits, no exponent letters.
GARBAGE = st.lists(
    st.sampled_from([b",", b"\n", b"\r", b"\r\n", b'"', b"'", b" ", b"\t", b"-", b"+", b".", b"x", b"N", b"A",
                     b"#", b";", b"\x00", b"\xff", b"\xc3", b"\xef\xbb\xbf", b"\xc3\xa9", b"\x1f\x8b"]),
    min_size=1,
    max_size=3,
).map(b"".join)  # fmt: skip


@SETTINGS
@given(
    table=digit_tables(),
    edits=st.lists(st.tuples(st.sampled_from(["insert", "delete"]), st.integers(0), GARBAGE), min_size=1, max_size=3),
)
def test_byte_damage_gives_the_data_written_or_a_digit_csv_error(tmp_path, table, edits) -> None:
    images, labels = table
    data = encode(csv_rows(images, labels))
    for action, position, garbage in edits:
        if action == "insert":
            at = position % (len(data) + 1)
            data = data[:at] + garbage + data[at:]
        else:
            removable = [i for i, byte in enumerate(data) if not chr(byte).isdigit()]
            if removable:
                at = removable[position % len(removable)]
                data = data[:at] + data[at + 1 :]
    try:
        result = read(tmp_path / "train.csv", data, labels is not None)
    except DigitCSVError:
        return
    assert_same(result, images, labels)


@pytest.mark.parametrize("require_label", [True, False])
@SETTINGS
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_digit_csv_error(tmp_path, data, require_label) -> None:
    try:
        table = read(tmp_path / "train.csv", data, require_label)
    except DigitCSVError as err:  # the only failure allowed, and it must say where
        assert "train.csv" in str(err)
    else:  # 300 random bytes almost never form a valid file, but if they do the result must be whole
        assert table.images.dtype == torch.uint8 and table.images.shape[1:] == (1, 28, 28)
