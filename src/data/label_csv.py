"""The one reader for ``ImageId,Label`` files: submissions and ``test_labels.csv``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from src.data.csv_reader import DigitCSVError

LABEL_HEADER = "ImageId,Label"


def read_label_csv(path: Path | str, n_rows: int | None = None) -> np.ndarray:
    """int64 labels ``[N]`` of an ``ImageId,Label`` file: ImageId 1..N in order, Label 0..9.

    UTF-8 with or without BOM, LF or CRLF, trailing blank lines (Kaggle accepts them) are fine; anything else
    is a ``DigitCSVError`` naming the line and column. ``n_rows``, when given, is the number of rows expected.
    Hand-written with ``csv`` rather than pandas, which would read ``3.0`` or an empty cell without a word.
    """
    path = Path(path)
    expected = f"expected '{LABEL_HEADER}' rows with ImageId 1..N in order and Label 0..9"
    if not path.is_file():
        raise DigitCSVError(path, f"file not found; {expected}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DigitCSVError(path, f"byte 0x{err.object[err.start]:02x} is not UTF-8 text; {expected}") from None
    rows = list(csv.reader(text.rstrip("\r\n").splitlines()))
    if not rows or ",".join(rows[0]) != LABEL_HEADER:
        found = ",".join(rows[0]) if rows else "an empty file"
        raise DigitCSVError(path, f"found header {found!r}; expected exactly {LABEL_HEADER}", line=1)
    labels = np.empty(len(rows) - 1, dtype=np.int64)
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != 2:
            raise DigitCSVError(path, f"found {len(row)} fields {','.join(row)!r}; {expected}", line=line)
        if row[0].strip() != str(line - 1):
            raise DigitCSVError(path, f"found ImageId {row[0]!r}; expected {line - 1} (1..N in order)", line, "1")
        if row[1].strip() not in set("0123456789"):
            raise DigitCSVError(path, f"found Label {row[1]!r}; expected a digit 0..9", line, "2 (Label)")
        labels[line - 2] = int(row[1])
    if not len(labels):
        raise DigitCSVError(path, f"no rows after the header; {expected}", line=2)
    if n_rows is not None and len(labels) != n_rows:
        raise DigitCSVError(path, f"found {len(labels)} rows; expected {n_rows}, one per image of the test set")
    return labels
