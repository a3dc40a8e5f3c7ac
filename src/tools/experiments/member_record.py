"""How a seeds member was trained: ``member.json`` in its run folder, written before its training starts, and
what happens to a run folder holding a training with other arguments (it is kept, renamed, when retrained).

The record holds the member's ``fit`` arguments exactly as given (without the logger, seed and ``--ckpt_path``
flags seeds adds per member), its seed, and the parsed content of every config file they load (the default recipe
first, as the CLI loads it; a relative path means the caller's working directory, where the member trains). Two
records mean the same training when their flags have the same text in the same order (``--k=v`` is ``--k v``) and
their config files the same parsed YAML: a config path spelled another way or an edited comment does not change
training, an edited setting does. Not the config fit saves (config.yaml, and its copy in every checkpoint): fit
saves it after choosing the precision and, on resume, after applying the checkpoint's hyperparameters, so it differs
from what the same arguments parse to.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from src.callbacks.run_summary import SUMMARY
from src.cli import DEFAULT_CONFIG
from src.utils import UserInputError, atomic_write

RECORD = "member.json"
CONFIG_FLAGS = ("--config", "-c")
_UNSET = object()


def record_of(fit: list[str], seed: int) -> dict:
    """The record of a member trained by ``python -m src.cli fit <fit> --seed_everything <seed>`` today."""
    paths = [str(DEFAULT_CONFIG)] + [value for flag, value in _pairs(fit) if flag in CONFIG_FLAGS]
    configs = [{"path": path, "content": _read_config(path)} for path in paths]
    return {"fit": list(fit), "seed": seed, "configs": configs}


def write_record(run_dir: Path, record: dict) -> None:
    """Write ``record`` as the run folder's ``member.json``, atomically (a killed write leaves the old or none)."""
    with atomic_write(run_dir / RECORD) as handle:
        json.dump(record, handle, indent=2)


def read_record(run_dir: Path) -> dict | None:
    """The member's record, or None when its run folder has none."""
    path = run_dir / RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserInputError(f"{path}: not JSON ({err}); it records how the member was trained") from err
    if (
        not isinstance(record, dict)
        or not {"fit", "seed", "configs"} <= record.keys()
        or len(record["configs"]) != (1 + sum(flag in CONFIG_FLAGS for flag, _ in _pairs(record["fit"])))
    ):
        raise UserInputError(f"{path}: expected a member record: fit, seed, and configs (one per config it loads)")
    return record


def runs_to_retrain(asked: dict[Path, dict], retrain: bool) -> list[Path]:
    """The run folders (keys of ``asked``, each with the record it is asked to hold) holding a training with other
    arguments; without ``retrain`` they stop the command with one line naming each one's differences."""
    stale: dict[str, list[Path]] = {}
    for run_dir, record in asked.items():
        trained = read_record(run_dir)
        found = differences(trained, record) if trained else []
        if trained is None and ((run_dir / SUMMARY).is_file() or any(run_dir.glob("checkpoints/*.ckpt"))):
            found = [f"no {RECORD} records what it was trained with"]
        if found:
            stale.setdefault("; ".join(found), []).append(run_dir)
    if stale and not retrain:
        listed = "; ".join(f"{', '.join(run.name for run in runs)}: {found}" for found, runs in stale.items())
        raise UserInputError(
            f"{next(iter(asked)).parent} holds members trained with other fit arguments than asked ({listed}); "
            "add --retrain true to retrain them (each old run folder is kept as <run>.replaced-<n>), "
            "or pass another --name"
        )
    return [run_dir for runs in stale.values() for run_dir in runs]


def set_aside(run_dir: Path, pointing_in: list[Path]) -> Path:
    """Rename ``run_dir`` to ``<run>.replaced-<n>`` and repoint the paths into it that ``pointing_in`` and its own
    summary hold (text replacement: those files hold the paths as the runs wrote them, in JSON or YAML)."""
    kept = next(k for n in itertools.count(1) if not (k := run_dir.with_name(f"{run_dir.name}.replaced-{n}")).exists())
    run_dir.rename(kept)
    for path in [*pointing_in, kept / SUMMARY]:
        if path.is_file():
            text = path.read_text()
            for before, after in ((run_dir, kept), (run_dir.absolute(), kept.absolute())):
                text = text.replace(f"{before}{os.sep}", f"{after}{os.sep}")
            with atomic_write(path) as handle:
                handle.write(text)
    print(f"kept {run_dir} as {kept.name}: it was trained with other fit arguments; training it again", flush=True)
    return kept


def differences(trained: dict, asked: dict) -> list[str]:
    """What differs between two records, one phrase each (``--k: 20 (trained) vs 30 (asked)``); [] if nothing."""
    old, new = _normalised(trained), _normalised(asked)
    found = []
    flags = dict.fromkeys(flag for flag, _ in [*new, *old])
    for flag in flags:
        was, now = ([value for f, value in pairs if f == flag] for pairs in (old, new))
        if was == now:
            continue
        if flag in CONFIG_FLAGS and len(was) == len(now):
            for before, after in zip(was, now, strict=True):
                found += [f"{flag} {after.path}: {d}" for d in _content_differences(before.content, after.content)]
        else:
            found.append(_phrase(flag, _values(was), _values(now)))
    if not found and old != new:
        found.append(_phrase("the same flags in another order", shlex.join(trained["fit"]), shlex.join(asked["fit"])))
    return found + ([] if trained["seed"] == asked["seed"] else [_phrase("seed", trained["seed"], asked["seed"])])


@dataclass
class _Config:
    """A ``--config`` value as training sees it: equal to another when their parsed contents are."""

    path: str = field(compare=False)
    content: object

    def __str__(self) -> str:
        return self.path


def _normalised(record: dict) -> list[tuple[str, object]]:
    configs = iter(_Config(c["path"], c["content"]) for c in record["configs"])
    pairs = [("--config", next(configs))]  # the default recipe, loaded before any flag
    for flag, value in _pairs(record["fit"]):
        pairs.append(("--config", next(configs)) if flag in CONFIG_FLAGS else (flag, value))
    return pairs


def _pairs(argv: list[str]) -> list[tuple[str, str | None]]:
    """``(flag, value)`` of each flag: ``--k v`` and ``--k=v`` alike (every jsonargparse flag takes a value)."""
    pairs, i = [], 0
    while i < len(argv):
        flag, _, value = argv[i].partition("=")
        if argv[i].startswith("--") and "=" in argv[i]:
            pairs.append((flag, value))
            i += 1
        else:
            has_value = i + 1 < len(argv) and not argv[i + 1].startswith("--")
            pairs.append((argv[i], argv[i + 1] if has_value else None))
            i += 2 if has_value else 1
    return pairs


def _read_config(path: str) -> object:
    try:
        return yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise UserInputError(f"--config {path}: cannot read {Path(path).absolute()} ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise UserInputError(f"--config {path}: not YAML ({err})") from err


def _content_differences(trained: object, asked: object) -> list[str]:
    before, after = _flat(trained), _flat(asked)
    keys = [key for key in dict.fromkeys([*after, *before]) if before.get(key, _UNSET) != after.get(key, _UNSET)]
    return [_phrase(key, before.get(key, "not set"), after.get(key, "not set")) for key in keys]


def _flat(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict) and value:
        return {k: v for key, sub in value.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}
    return {prefix.rstrip(".") or "(whole file)": value}


def _values(values: list) -> str:
    return ", ".join(map(str, values)) or "not given"


def _phrase(what: str, trained: object, asked: object) -> str:
    return f"{what}: {trained} (trained) vs {asked} (asked)"
