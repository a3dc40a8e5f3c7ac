"""read_digit_csv: every malformed file is refused with file, line and column; every good variant is read alike."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from src.data.csv_reader import DigitCSVError, read_digit_csv
from src.utils import UserInputError
from tests.synthetic import PIXEL_COLUMNS, digit_csv_text, random_digits

ROOT = Path(__file__).resolve().parents[2]
N_ROWS = 4  # data rows are lines 2..5
Rows = list[list[str]]  # header first, then data rows, as CSV cells


def make_rows(with_label: bool, seed: int = 0) -> Rows:
    images, labels = random_digits(N_ROWS, seed)
    text = digit_csv_text(images, labels if with_label else None)
    return [line.split(",") for line in text.splitlines()]


def to_bytes(rows: Rows, newline: str = "\n") -> bytes:
    return (newline.join(",".join(row) for row in rows) + newline).encode()


def set_cell(line: int, column: str, value: str) -> Callable[[Rows], bytes]:
    def mutate(rows: Rows) -> bytes:
        rows[line - 1][rows[0].index(column)] = value
        return to_bytes(rows)

    return mutate


def set_raw_cell(line: int, column: str, value: bytes) -> Callable[[Rows], bytes]:
    def mutate(rows: Rows) -> bytes:
        rows[line - 1][rows[0].index(column)] = "@"
        return to_bytes(rows).replace(b"@", value)

    return mutate


def drop_column(name: str) -> Callable[[Rows], bytes]:
    def mutate(rows: Rows) -> bytes:
        at = rows[0].index(name)
        return to_bytes([row[:at] + row[at + 1 :] for row in rows])

    return mutate


def edit_row(line: int, edit: Callable[[list[str]], list[str]]) -> Callable[[Rows], bytes]:
    def mutate(rows: Rows) -> bytes:
        rows[line - 1] = edit(rows[line - 1])
        return to_bytes(rows)

    return mutate


def rename(old: str, new: str) -> Callable[[Rows], bytes]:
    return edit_row(1, lambda header: [new if name == old else name for name in header])


@dataclass
class Bad:
    """One malformed file: how to make it, and where the error must point (column by header name or number)."""

    id: str
    make: Callable[[Rows], bytes]
    line: int | None
    column: str | int | None
    says: str
    kinds: tuple[str, ...] = ("train", "test")


BAD_FILES = [
    Bad("empty file", lambda rows: b"", 1, None, "empty"),
    Bad("blank lines only", lambda rows: b"\n\r\n\n", 1, None, "empty"),
    Bad("header only", lambda rows: to_bytes(rows[:1]), 2, None, "no data rows"),
    Bad("missing label column", drop_column("label"), 1, None, "no 'label' column", kinds=("train",)),
    Bad("783 pixel columns", drop_column("pixel783"), 1, None, "found 783 pixel columns; expected 784"),
    Bad(
        "785 pixel columns",
        lambda rows: to_bytes([row + (["pixel784"] if i == 0 else ["0"]) for i, row in enumerate(rows)]),
        1,
        None,
        "found 785 pixel columns; expected 784",
    ),
    Bad("duplicated column name", rename("pixel5", "pixel4"), 1, "pixel5", "duplicated column name 'pixel4'"),
    Bad("unknown column name", rename("pixel5", "pixel 5"), 1, "pixel5", "expected 'label' or 'pixel<K>'"),
    Bad("non-numeric cell", set_cell(3, "pixel10", "abc"), 3, "pixel10", "found 'abc'; expected an integer 0..255"),
    Bad("NA is not a number", set_cell(4, "pixel0", "NA"), 4, "pixel0", "found 'NA'; expected an integer 0..255"),
    Bad("negative pixel", set_cell(4, "pixel783", "-1"), 4, "pixel783", "found '-1'; expected an integer 0..255"),
    Bad("pixel above 255", set_cell(3, "pixel300", "256"), 3, "pixel300", "found '256'; expected an integer 0..255"),
    Bad("fractional pixel", set_cell(5, "pixel1", "3.5"), 5, "pixel1", "found '3.5'; expected an integer 0..255"),
    Bad("missing pixel", set_cell(3, "pixel7", ""), 3, "pixel7", "found a missing cell; expected an integer 0..255"),
    Bad("label 10", set_cell(3, "label", "10"), 3, "label", "found '10'; expected an integer 0..9", ("train",)),
    Bad("label -1", set_cell(4, "label", "-1"), 4, "label", "found '-1'; expected an integer 0..9", ("train",)),
    Bad("label 3.5", set_cell(5, "label", "3.5"), 5, "label", "found '3.5'; expected an integer 0..9", ("train",)),
    Bad("missing label", set_cell(3, "label", ""), 3, "label", "found a missing cell", ("train",)),
    Bad("label True", set_cell(2, "label", "True"), 2, "label", "found 'True'; expected an integer 0..9", ("train",)),
    Bad("row too long", edit_row(3, lambda row: [*row, "0"]), 3, "+1", "fields; expected"),
    Bad("first row too long", edit_row(2, lambda row: [*row, "0"]), 2, "+1", "fields; expected"),
    Bad("row too short", edit_row(4, lambda row: row[:-1]), 4, "last", "fields; expected"),
    Bad("first row too short", edit_row(2, lambda row: row[:-2]), 2, "last-1", "fields; expected"),
    Bad("blank line inside", edit_row(3, lambda row: []), 3, None, "empty line; expected"),
    Bad("unclosed quote", set_cell(4, "pixel2", '"7'), 4, None, "quote is never closed"),
    Bad("binary garbage", lambda rows: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 1, 1, "not UTF-8"),
    Bad("non-UTF-8 byte", set_raw_cell(4, "pixel3", b"\xff"), 4, "pixel3", "byte 0xff is not UTF-8"),
    Bad("NUL byte", set_raw_cell(3, "pixel9", b"1\x002"), 3, "pixel9", "NUL byte"),
    Bad("corrupt gzip", lambda rows: gzip.compress(to_bytes(rows))[:-20], None, None, "corrupt gzip"),
]


def column_number(case: Bad, header: list[str]) -> int | None:
    if isinstance(case.column, int) or case.column is None:
        return case.column
    width = len(header)
    special = {"+1": width + 1, "last": width, "last-1": width - 1}
    return special.get(case.column) or header.index(case.column) + 1


@pytest.mark.parametrize("kind", ["train", "test"])
@pytest.mark.parametrize("case", BAD_FILES, ids=[case.id for case in BAD_FILES])
def test_malformed_csv_is_refused_with_file_line_and_column(tmp_path: Path, case: Bad, kind: str) -> None:
    if kind not in case.kinds:
        pytest.skip(f"not meaningful for {kind}.csv")
    rows = make_rows(with_label=kind == "train")
    header = list(rows[0])
    path = tmp_path / f"{kind}.csv"
    path.write_bytes(case.make(rows))
    with pytest.raises(DigitCSVError) as caught:
        read_digit_csv(path, require_label=kind == "train")
    message = str(caught.value)
    where = str(path)
    if case.line is not None:
        where += f", line {case.line}"
    column = column_number(case, header)
    if column is not None:
        where += f", column {column}"
    assert message.startswith(where), message
    assert message[len(where)] in ": (", message  # "column 1" must not be a prefix of "column 12"
    assert case.says in message
    assert "expected" in message
    assert isinstance(caught.value, UserInputError)


@pytest.mark.parametrize(
    "case", [c for c in BAD_FILES if c.id in {"non-numeric cell", "row too long", "row too short", "NUL byte"}]
)
def test_line_numbers_hold_with_bom_and_crlf(tmp_path: Path, case: Bad) -> None:
    rows = make_rows(with_label=True)
    crlf = b"\xef\xbb\xbf" + case.make(rows).replace(b"\n", b"\r\n")
    (tmp_path / "train.csv").write_bytes(crlf)
    with pytest.raises(DigitCSVError, match=f", line {case.line}, column "):
        read_digit_csv(tmp_path / "train.csv", require_label=True)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DigitCSVError, match="file not found"):
        read_digit_csv(tmp_path / "train.csv", require_label=True)


def test_first_bad_cell_in_file_order_is_reported(tmp_path: Path) -> None:
    rows = make_rows(with_label=True)
    rows[4][rows[0].index("label")] = "11"  # line 5
    rows[2][rows[0].index("pixel400")] = "x"  # line 3: comes first in the file
    (tmp_path / "train.csv").write_bytes(to_bytes(rows))
    with pytest.raises(DigitCSVError, match=r"line 3, column 402 \(pixel400\): found 'x'"):
        read_digit_csv(tmp_path / "train.csv", require_label=True)


# --- accepted variants: all must give exactly the images and labels written -----------------------------


def expected_table(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = random_digits(N_ROWS, seed)
    return torch.from_numpy(images).reshape(-1, 1, 28, 28), torch.from_numpy(labels)


def shuffled_columns(rows: Rows) -> bytes:
    order = np.random.default_rng(1).permutation(len(rows[0]))
    return to_bytes([[row[i] for i in order] for row in rows])


def fashion_naming(rows: Rows) -> bytes:
    rows[0] = ["label"] + [f"pixel{i + 1}" for i in range(784)]
    return to_bytes(rows)


def float_cells(rows: Rows) -> bytes:
    return to_bytes([rows[0]] + [[f"{int(cell)}.0" for cell in row] for row in rows[1:]])


GOOD_VARIANTS: dict[str, Callable[[Rows], bytes]] = {
    "plain": to_bytes,
    "UTF-8 BOM": lambda rows: b"\xef\xbb\xbf" + to_bytes(rows),
    "CRLF": lambda rows: to_bytes(rows, "\r\n"),
    "BOM and CRLF": lambda rows: b"\xef\xbb\xbf" + to_bytes(rows, "\r\n"),
    "no final newline": lambda rows: to_bytes(rows).rstrip(b"\n"),
    "trailing blank lines": lambda rows: to_bytes(rows) + b"\n\r\n\n",
    "gzip": lambda rows: gzip.compress(to_bytes(rows)),
    "shuffled columns": shuffled_columns,
    "pixel1..pixel784": fashion_naming,
    "integers written as floats": float_cells,
    "quoted cells": lambda rows: to_bytes([[f'"{cell}"' for cell in row] for row in rows]),
}


@pytest.mark.parametrize("variant", GOOD_VARIANTS, ids=list(GOOD_VARIANTS))
def test_well_formed_variants_give_the_same_data(tmp_path: Path, variant: str) -> None:
    path = tmp_path / ("train.csv.gz" if variant == "gzip" else "train.csv")
    path.write_bytes(GOOD_VARIANTS[variant](make_rows(with_label=True)))
    table = read_digit_csv(path, require_label=True)
    images, labels = expected_table()
    assert table.images.dtype == torch.uint8 and table.images.shape == (N_ROWS, 1, 28, 28)
    assert torch.equal(table.images, images)
    assert table.labels is not None and table.labels.dtype == torch.int64
    assert torch.equal(table.labels, labels)


def test_test_csv_without_labels_gives_no_labels(tmp_path: Path) -> None:
    (tmp_path / "test.csv").write_bytes(to_bytes(make_rows(with_label=False)))
    table = read_digit_csv(tmp_path / "test.csv", require_label=False)
    assert table.labels is None
    assert torch.equal(table.images, expected_table()[0])


def test_test_csv_with_a_label_column_returns_its_labels(tmp_path: Path) -> None:
    (tmp_path / "test.csv").write_bytes(to_bytes(make_rows(with_label=True)))
    table = read_digit_csv(tmp_path / "test.csv", require_label=False)
    assert table.labels is not None and torch.equal(table.labels, expected_table()[1])


def test_shuffled_pixel_columns_put_each_pixel_in_its_place(tmp_path: Path) -> None:
    header = ["label"] + PIXEL_COLUMNS[::-1]  # pixel783 first, pixel0 last
    row = ["7"] + ["0"] * 784
    row[1], row[784] = "200", "100"  # pixel783 (bottom-right) and pixel0 (top-left)
    (tmp_path / "train.csv").write_text(",".join(header) + "\n" + ",".join(row) + "\n")
    image = read_digit_csv(tmp_path / "train.csv", require_label=True).images[0, 0]
    assert image[0, 0] == 100 and image[27, 27] == 200 and image.sum() == 300


@pytest.mark.slow
def test_cli_reports_a_bad_csv_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    data, workdir = tmp_path / "data", tmp_path / "work"
    data.mkdir(), workdir.mkdir()
    rows = make_rows(with_label=True)
    rows[2][rows[0].index("pixel10")] = "oops"
    (data / "train.csv").write_bytes(to_bytes(rows))
    result = subprocess.run(
        [
            sys.executable, "-m", "src.cli", "fit",
            "--config", str(ROOT / "configs" / "mnist.yaml"),
            "--config", str(ROOT / "configs" / "presets" / "debug.yaml"),
            "--data.data_dir", str(data),
        ],
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(ROOT), "DIGITS_DEBUG": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert errors == [
        f"error: {data / 'train.csv'}, line 3, column 12 (pixel10): found 'oops'; expected an integer 0..255"
    ]
    assert "Traceback" not in result.stderr + result.stdout
    assert sorted(p.name for p in data.iterdir()) == ["train.csv"]
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize("first", [0, 1], ids=["pixel0..", "pixel1.."])
def test_rgb_pixel_columns_are_refused_saying_images_are_single_channel(tmp_path: Path, first: int) -> None:
    """3 x H x W columns would otherwise be read as a larger image, or refused as a mere count mismatch."""
    rows = np.random.default_rng(0).integers(0, 256, size=(4, 3 * 4 * 5))
    header = ",".join(["label", *(f"pixel{first + i}" for i in range(3 * 4 * 5))])
    body = "".join(f"{k % 3}," + ",".join(map(str, row)) + "\n" for k, row in enumerate(rows))
    (tmp_path / "train.csv").write_text(header + "\n" + body)
    expected = "line 1: found 60 pixel columns, 3 x 20 as an RGB image has; images are single-channel (grayscale)"
    with pytest.raises(DigitCSVError, match=rf"train.csv, {re.escape(expected)}: convert them to one value per pixel"):
        read_digit_csv(tmp_path / "train.csv", require_label=True, image_size=(4, 5))
