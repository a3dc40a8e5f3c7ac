"""Read the Kaggle digit-recognizer CSVs (images, and ``ImageId,Label`` files), refusing anything malformed.

One pandas parse per image file; validation is vectorised over the parsed frame, and the first violation in file
order raises :class:`DigitCSVError` naming the file, the 1-based line (header = line 1) and the column. UTF-8 with
or without BOM, LF or CRLF, plain or gzip-compressed are all accepted.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from src.utils import UserInputError

_PIXEL_NAME = re.compile(r"pixel(\d+)")


class DigitCSVError(UserInputError, ValueError):
    """A CSV the project cannot use; its message says where and what was expected."""

    def __init__(self, path: Path | str, problem: str, line: int | None = None, column: str | None = None):
        self.path = str(path)
        self.line = line
        self.column = column
        self.problem = problem
        where = self.path
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column}"
        super().__init__(f"{where}: {problem}")


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
    path = Path(path)
    if not path.is_file():
        raise DigitCSVError(path, "file not found; expected a Kaggle digit-recognizer CSV")
    raw = _read_bytes(path)
    if not raw.strip():
        raise DigitCSVError(path, "file is empty; expected a header line '[label,]pixel0,...,pixel783'", line=1)
    raw = raw.rstrip(b"\r\n") + b"\n"  # trailing blank lines are not rows
    header_line, _, rest = _decode(path, raw).partition("\n")
    header = _fields(path, header_line, 1)
    pixel_cols = _check_header(path, header, require_label, image_size[0] * image_size[1], id_column)
    if not rest:
        raise DigitCSVError(path, "no data rows after the header; expected at least one image", line=2)
    # Every row's width is checked before pandas parses: pandas would turn extra fields into an index column.
    _check_row_widths(path, raw, rest, len(header))
    highs = {id_column: np.iinfo(np.int64).max, "label": num_classes - 1}  # an id_column 'label' stays a label
    values = _validated(path, _parse(path, raw, len(header)), header, highs)
    columns = [header.index(name) if name in header else None for name in (id_column, "label")]
    ids = None if columns[0] is None else torch.from_numpy(values[:, columns[0]].copy())
    labels = None if columns[1] is None else torch.from_numpy(values[:, columns[1]].copy())
    if ids is not None and (repeats := np.flatnonzero(pd.Series(ids.numpy()).duplicated())).size:
        line, column = int(repeats[0]) + 2, f"{columns[0] + 1} ({id_column})"
        raise DigitCSVError(path, f"id {int(ids[repeats[0]])} is repeated; expected unique ids", line, column)
    pixels = values.astype(np.uint8)[:, [header.index(name) for name in pixel_cols]]  # all in 0..255 now
    return DigitTable(torch.from_numpy(pixels).reshape(-1, 1, *image_size), labels, ids)


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":  # gzip magic, whatever the suffix
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, gzip.BadGzipFile) as err:
            raise DigitCSVError(path, f"corrupt gzip data ({err}); expected a complete .gz file") from None
    return data


def _decode(path: Path, raw: bytes) -> str:
    """The whole file as text, or an error locating the first byte that is not UTF-8 or is NUL."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line, col = _locate(raw, err.start)
        raise DigitCSVError(
            path, f"byte 0x{raw[err.start]:02x} is not UTF-8 text; expected a plain-text CSV", line, f"{col}"
        ) from None
    if "\x00" in text:
        line, col = _locate(raw, raw.index(b"\x00"))
        raise DigitCSVError(path, "NUL byte found; expected a plain-text CSV, not binary data", line, f"{col}")
    if raw.count(b"\r") != raw.count(b"\r\n"):  # pandas would start a new row there, csv would not
        line, col = _locate(raw, re.search(rb"\r(?!\n)", raw).start())
        raise DigitCSVError(path, "carriage return inside a line; expected LF or CRLF line endings", line, f"{col}")
    return text


def _locate(raw: bytes, offset: int) -> tuple[int, int]:
    """1-based line and field number of the byte at ``offset``."""
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return raw.count(b"\n", 0, offset) + 1, raw.count(b",", line_start, offset) + 1


def _fields(path: Path, line: str, number: int) -> list[str]:
    try:
        return next(csv.reader([line.rstrip("\r")]), [])
    except csv.Error as err:
        raise DigitCSVError(path, f"unreadable line ({err}); expected comma-separated integers", number) from None


def _check_header(path: Path, header: list[str], require_label: bool, n: int, id_column: str | None) -> list[str]:
    seen: set[str] = set()
    for i, name in enumerate(header, start=1):
        if name in seen:
            raise DigitCSVError(path, f"duplicated column name {name!r}; expected unique names", 1, f"{i}")
        seen.add(name)
        if name not in ("label", id_column) and not _PIXEL_NAME.fullmatch(name):
            expected = f"expected 'label' or 'pixel<K>' (an id column is data.id_column, now {id_column!r})"
            raise DigitCSVError(path, f"unexpected column name {name!r}; {expected}", 1, f"{i}")
    if require_label and "label" not in seen:
        raise DigitCSVError(path, f"no 'label' column; expected 'label' followed by {n} pixel columns", 1)
    pixel_cols = sorted(seen - {"label", id_column}, key=lambda n: int(n[5:]))
    indices = [int(n[5:]) for n in pixel_cols]
    if len(pixel_cols) == 3 * n and indices in (list(range(3 * n)), list(range(1, 3 * n + 1))):
        rgb = f"found {3 * n} pixel columns, 3 x {n} as an RGB image has; images are single-channel (grayscale)"
        raise DigitCSVError(path, f"{rgb}: convert them to one value per pixel, {n} columns for data.image_size", 1)
    if len(pixel_cols) != n or indices not in (list(range(n)), list(range(1, n + 1))):
        expected = f"expected {n} named pixel0..pixel{n - 1} (or pixel1..pixel{n}) for data.image_size"
        raise DigitCSVError(path, f"found {len(pixel_cols)} pixel columns; {expected}", 1)
    return pixel_cols


def _check_width(path: Path, fields: list[str], width: int, line: int) -> None:
    if not fields:
        raise DigitCSVError(path, f"empty line; expected {width} comma-separated fields like the header", line)
    if len(fields) != width:
        column = f"{min(len(fields), width) + 1}"
        raise DigitCSVError(path, f"row has {len(fields)} fields; expected {width} like the header", line, column)


def _check_row_widths(path: Path, raw: bytes, text_after_header: str, width: int) -> None:
    """Refuse the first data row whose field count is not the header's (or a quote that never closes)."""
    if b'"' not in raw:  # the common case: fields are the commas of each line plus one
        lines = raw.split(b"\n")[1:-1]
        commas = np.fromiter((line.count(b",") for line in lines), dtype=np.int64, count=len(lines))
        bad = np.flatnonzero(commas != width - 1)
        if len(bad):
            line = int(bad[0]) + 2
            _check_width(path, _fields(path, lines[bad[0]].decode("utf-8", "replace"), line), width, line)
        return
    reader = csv.reader(io.StringIO(text_after_header), strict=True)
    while True:
        line = reader.line_num + 2  # the line this record starts on
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error:
            raise DigitCSVError(path, "a quote is never closed; expected plain integers", line) from None
        _check_width(path, fields, width, line)


def _parse(path: Path, raw: bytes, width: int) -> pd.DataFrame:
    """pandas' C parser on a file whose rows all have ``width`` fields (checked before)."""
    try:
        return pd.read_csv(
            io.BytesIO(raw),
            encoding="utf-8-sig",
            skip_blank_lines=False,
            keep_default_na=False,  # 'NA', 'nan', 'None' ... are text to refuse, not missing cells
            na_values=[""],
            low_memory=False,
        )
    except (pd.errors.ParserError, ValueError) as err:  # not expected once widths are checked
        reason = str(err).strip().splitlines()[0]
        raise DigitCSVError(path, f"unreadable CSV ({reason}); expected {width} comma-separated integers") from None


def _validated(path: Path, frame: pd.DataFrame, header: list[str], highs: dict) -> np.ndarray:
    """The frame as int64 in header order, or an error at the first bad cell in file order (``highs``: the largest
    value by column name, else 255)."""
    if frame.shape[1] != len(header):  # pandas read the header differently (odd quoting)
        raise DigitCSVError(path, f"header has {frame.shape[1]} columns for pandas; expected {len(header)}", 1)
    low = np.array([0] * len(header))
    high = np.array([highs.get(name, 255) for name in header])
    if all(dtype.kind in "iu" for dtype in frame.dtypes):
        values = frame.to_numpy(np.int64)
        if (values.min(0) >= low).all() and (values.max(0) <= high).all():
            return values
        bad = (values < low) | (values > high)
    else:  # slow path only for files that are already wrong or written as floats
        numeric = np.column_stack([_as_float(frame.iloc[:, i]) for i in range(len(header))])
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(numeric) | (numeric != np.round(numeric)) | (numeric < low) | (numeric > high)
        if not bad.any():
            return numeric.astype(np.int64)
    row, col = (int(i) for i in np.argwhere(bad)[0])
    line = row + 2  # the header is line 1
    name = header[col]
    cell = frame.iat[row, col]
    found = "a missing cell" if pd.isna(cell) else f"{str(cell)!r}"
    expected = f"expected an integer {low[col]}..{high[col]}"
    raise DigitCSVError(path, f"found {found}; {expected}", line, f"{col + 1} ({name})")


def _as_float(column: pd.Series) -> np.ndarray:
    """Numbers stay numbers; text (and pandas' True/False) goes through ``to_numeric``, NaN where it fails."""
    if column.dtype.kind in "iuf":
        return column.to_numpy(np.float64)
    return pd.to_numeric(column.astype(str), errors="coerce").to_numpy(np.float64)


LABEL_HEADER = "ImageId,Label"


def read_label_csv(path: Path | str, n_rows: int | None = None, num_classes: int = 10) -> np.ndarray:
    """int64 labels ``[N]`` of an ``ImageId,Label`` file: ImageId 1..N in order, Label 0..num_classes-1.

    UTF-8 with or without BOM, LF or CRLF, trailing blank lines (Kaggle accepts them) are fine; anything else
    is a ``DigitCSVError`` naming the line and column. ``n_rows``, when given, is the number of rows expected.
    Hand-written with ``csv`` rather than pandas, which would read ``3.0`` or an empty cell without a word.
    """
    path = Path(path)
    expected = f"expected '{LABEL_HEADER}' rows with ImageId 1..N in order and Label 0..{num_classes - 1}"
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
        if row[1].strip() not in {str(k) for k in range(num_classes)}:
            raise DigitCSVError(path, f"found Label {row[1]!r}; expected 0..{num_classes - 1}", line, "2 (Label)")
        labels[line - 2] = int(row[1])
    if not len(labels):
        raise DigitCSVError(path, f"no rows after the header; {expected}", line=2)
    if n_rows is not None and len(labels) != n_rows:
        raise DigitCSVError(path, f"found {len(labels)} rows; expected {n_rows}, one per image of the test set")
    return labels
