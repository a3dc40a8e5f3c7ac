"""Read the Kaggle digit-recognizer CSVs (images, and ``ImageId,Label`` files), refusing anything malformed with one
:class:`DigitCSVError` naming the file, the 1-based line (header = line 1) and the column. Byte and line checks come
first, so that pandas' C parser reads a file it cannot misread. UTF-8 with or without BOM, LF or CRLF, gzip are fine."""

from __future__ import annotations

import gzip
import io
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from src.utils import UserInputError

LABEL_HEADER = "ImageId,Label"


class DigitCSVError(UserInputError, ValueError):
    """A CSV the project cannot use; its message says where and what was expected."""

    def __init__(self, path: Path | str, problem: str, line: int | None = None, column: str | None = None):
        at_line = "" if line is None else f", line {line}"
        at_column = "" if column is None else f", column {column}"
        super().__init__(f"{path}{at_line}{at_column}: {problem}")


@dataclass(frozen=True)
class DigitTable:
    """Images as uint8 ``[N, 1, H, W]``, labels and ids as int64 ``[N]`` (None when the file has none)."""

    images: torch.Tensor
    labels: torch.Tensor | None
    ids: torch.Tensor | None = None


def read_digit_csv(
    path: Path | str,
    require_label: bool,
    image_size: tuple[int, int] = (28, 28),
    num_classes: int = 10,
    id_column: str | None = None,
) -> DigitTable:
    """Parse ``train.csv``/``test.csv`` (optionally ``.gz``): ``[label,][<id_column>,]pixel0..pixel{H*W-1}`` in any
    column order, labels ``0..num_classes-1``, ids unique integers >= 0."""
    path, n = Path(path), image_size[0] * image_size[1]
    raw, lines = _plain_text(path, "expected a Kaggle digit-recognizer CSV")
    if raw.isspace():
        raise DigitCSVError(path, "file is empty; expected a header line '[label,]pixel0,...,pixel783'", line=1)
    header = lines[0].rstrip(b"\r").decode().split(",")
    pixel_cols = _check_header(path, header, require_label, n, id_column)
    _check_rows(path, lines, len(header), "expected at least one image")
    # keep_default_na=False: 'NA', 'nan', 'None' ... are text to refuse, not missing cells
    frame = pd.read_csv(
        io.BytesIO(raw), skip_blank_lines=False, keep_default_na=False, na_values=[""], low_memory=False
    )
    highs = {id_column: np.iinfo(np.int64).max, "label": num_classes - 1}  # "label" last: it wins if id_column is too
    high = np.array([highs.get(name, 255) for name in header])
    if all(dtype.kind in "iu" for dtype in frame.dtypes):
        values = frame.to_numpy(np.int64)
        bad = (values < 0) | (values > high)
    else:  # text (pandas' True/False too) becomes NaN; only files already wrong or written as floats come here
        text = [column if column.dtype.kind in "iuf" else column.astype(str) for _, column in frame.items()]
        values = np.column_stack([pd.to_numeric(column, errors="coerce") for column in text])
        bad = ~(values >= 0) | (values > high) | (values != np.round(values))  # NaN fails the first test
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        found = "a missing cell" if pd.isna(cell := frame.iat[row, col]) else f"{str(cell)!r}"
        problem = f"found {found}; expected an integer 0..{high[col]}"
        raise DigitCSVError(path, problem, row + 2, f"{col + 1} ({header[col]})")
    values = values.astype(np.int64, copy=False)
    columns = [header.index(name) if name in header else None for name in (id_column, "label")]
    ids = None if columns[0] is None else torch.from_numpy(values[:, columns[0]].copy())
    labels = None if columns[1] is None else torch.from_numpy(values[:, columns[1]].copy())
    if ids is not None and (repeats := np.flatnonzero(pd.Series(ids.numpy()).duplicated())).size:
        line, column = int(repeats[0]) + 2, f"{columns[0] + 1} ({id_column})"
        raise DigitCSVError(path, f"id {int(ids[repeats[0]])} is repeated; expected unique ids", line, column)
    pixels = values.astype(np.uint8)[:, [header.index(name) for name in pixel_cols]]  # all checked to be 0..255 above
    return DigitTable(torch.from_numpy(pixels).reshape(-1, 1, *image_size), labels, ids)


def _plain_text(path: Path, expected: str) -> tuple[bytes, list[bytes]]:
    """The bytes (gunzipped; no BOM, trailing blank lines or quotes around whole fields; one final newline) and lines,
    or an error at the first byte that is not UTF-8, is NUL, is a CR outside CRLF, or is a stray quote."""
    if not path.is_file():
        raise DigitCSVError(path, f"file not found; {expected}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the suffix
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise DigitCSVError(path, f"corrupt gzip data ({err}); expected a complete .gz file") from None
    raw = raw.rstrip(b"\r\n") + b"\n"  # trailing blank lines are not rows
    try:
        if not raw.isascii():  # checking for ASCII is many times faster than decoding
            raw.decode("utf-8")
        at = raw.find(b"\x00")
        if at < 0 and b"\r" in raw and raw.count(b"\r") != raw.count(b"\r\n"):  # pandas ends a row at a lone CR
            at = re.search(rb"\r(?!\n)", raw).start()
    except UnicodeDecodeError as err:
        at = err.start
    if at >= 0:
        found = {0: "NUL byte", 13: "carriage return inside a line"}.get(raw[at], f"byte 0x{raw[at]:02x} is not UTF-8")
        line, column = raw.count(b"\n", 0, at) + 1, raw.count(b",", raw.rfind(b"\n", 0, at) + 1, at) + 1
        raise DigitCSVError(path, f"{found}; expected UTF-8 text with LF or CRLF line ends", line, f"{column}")
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    # Quotes around a whole field go; any quote left would make pandas and the line checks read the line apart.
    if b'"' in raw and b'"' in (raw := re.sub(rb'(?<![^,\n])"([^"\n]*)"(?![^,\r\n])', rb"\1", raw)):
        line = raw.count(b"\n", 0, raw.index(b'"')) + 1
        raise DigitCSVError(path, f"a quote is never closed or stands inside a field; {expected}", line)
    return raw, raw.split(b"\n")[:-1]


def _check_header(path: Path, header: list[str], require_label: bool, n: int, id_column: str | None) -> list[str]:
    """The pixel column names in pixel order, or an error at the first wrong name or a wrong pixel count."""
    repeated = pd.Index(header).duplicated()
    for i, name in enumerate(header, start=1):
        if repeated[i - 1]:
            raise DigitCSVError(path, f"duplicated column name {name!r}; expected unique names", 1, f"{i}")
        if name not in ("label", id_column) and not re.fullmatch(r"pixel\d+", name):
            expected = f"expected 'label' or 'pixel<K>' (an id column is data.id_column, now {id_column!r})"
            raise DigitCSVError(path, f"unexpected column name {name!r}; {expected}", 1, f"{i}")
    if require_label and "label" not in header:
        raise DigitCSVError(path, f"no 'label' column; expected 'label' followed by {n} pixel columns", 1)
    pixel_cols = sorted(set(header) - {"label", id_column}, key=lambda name: int(name[5:]))
    numbers = [int(name[5:]) for name in pixel_cols]
    numbered = numbers in (list(range(len(numbers))), list(range(1, len(numbers) + 1)))  # from 0 or from 1
    if numbered and len(numbers) == 3 * n:
        rgb = f"found {3 * n} pixel columns, 3 x {n} as an RGB image has; images are single-channel (grayscale)"
        raise DigitCSVError(path, f"{rgb}: convert them to one value per pixel, {n} columns for data.image_size", 1)
    if not numbered or len(numbers) != n:
        expected = f"expected {n} named pixel0..pixel{n - 1} (or pixel1..pixel{n}) for data.image_size"
        raise DigitCSVError(path, f"found {len(numbers)} pixel columns; {expected}", 1)
    return pixel_cols


def _check_rows(path: Path, lines: list[bytes], width: int, expected: str) -> None:
    """Refuse no data rows, or the first line whose field count is not the header's (pandas would pad or index it)."""
    if len(lines) == 1:
        raise DigitCSVError(path, f"no data rows after the header; {expected}", line=2)
    commas = np.fromiter((line.count(b",") for line in lines), dtype=np.int64, count=len(lines))
    if (bad := np.flatnonzero(commas != width - 1)).size:
        line, fields = int(bad[0]) + 1, int(commas[bad[0]]) + 1
        if not lines[bad[0]].strip():
            raise DigitCSVError(path, f"empty line; expected {width} comma-separated fields like the header", line)
        column = f"{min(fields, width) + 1}"
        raise DigitCSVError(path, f"row has {fields} fields; expected {width} like the header", line, column)


def read_label_csv(path: Path | str, n_rows: int | None = None, num_classes: int = 10) -> np.ndarray:
    """int64 labels ``[N]`` of an ``ImageId,Label`` file: ImageId 1..N in order, Label 0..num_classes-1, ``n_rows``
    rows when given. Cells are read as text, as pandas would take ``3.0`` or an empty cell for a label."""
    path = Path(path)
    expected = f"expected '{LABEL_HEADER}' rows with ImageId 1..N in order and Label 0..{num_classes - 1}"
    raw, lines = _plain_text(path, expected)
    if (header := lines[0].rstrip(b"\r").decode()) != LABEL_HEADER:
        raise DigitCSVError(path, f"found header {header or 'an empty file'!r}; expected exactly {LABEL_HEADER}", 1)
    _check_rows(path, lines, 2, expected)
    frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    ids, labels = frame["ImageId"].str.strip(), frame["Label"].str.strip()
    bad_ids = ids != pd.Series(range(1, len(frame) + 1)).astype(str)
    bad = bad_ids | ~labels.isin([str(k) for k in range(num_classes)])
    if bad.any():
        row = int(np.argmax(bad))
        if bad_ids[row]:
            problem = f"found ImageId {frame.iat[row, 0]!r}; expected {row + 1} (1..N in order)"
            raise DigitCSVError(path, problem, row + 2, "1")
        problem = f"found Label {frame.iat[row, 1]!r}; expected 0..{num_classes - 1}"
        raise DigitCSVError(path, problem, row + 2, "2 (Label)")
    if n_rows is not None and len(frame) != n_rows:
        raise DigitCSVError(path, f"found {len(frame)} rows; expected {n_rows}, one per image of the test set")
    return labels.astype(np.int64).to_numpy(copy=True)  # writable: pandas' copy-on-write view is read-only
