"""A sweep's search space (``configs/sweeps/*.yaml``) as Optuna distributions, and the tie between a study and it."""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import optuna
import yaml
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
    json_to_distribution,
)

from src.utils import UserInputError

PARAM_KEYS = {
    "float": {"low", "high", "log", "step"},
    "int": {"low", "high", "log", "step"},
    "categorical": {"choices"},
}


@dataclass(frozen=True)
class Space:
    """A search space file: the shared ``fit`` arguments, the metric and its direction, one Optuna distribution per
    config key. Its ``text`` (normalised: defaults filled in, distributions as Optuna serialises them) is what a
    study records and compares on resume, so a resumed study never searches another space than it began in."""

    name: str
    fit: list[str]
    monitor: str
    direction: str
    params: dict[str, BaseDistribution]

    @classmethod
    def read(cls, path: Path) -> Space:
        try:
            spec = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise UserInputError(f"search space {path}: {err}") from None
        if not isinstance(spec, dict) or not isinstance(spec.get("params"), dict) or not spec["params"]:
            raise UserInputError(f"search space {path}: expected 'params:' mapping config keys to distributions")
        direction = spec.get("direction", "maximize")
        if direction not in ("maximize", "minimize"):
            raise UserInputError(f"search space {path}: direction {direction!r}; expected maximize or minimize")
        params = {key: _distribution(path, key, value) for key, value in spec["params"].items()}
        fit = spec.get("fit", [])
        if not isinstance(fit, list):
            raise UserInputError(f"search space {path}: 'fit:' is {fit!r}; expected a list of fit arguments")
        name = spec.get("name") or Path(path).stem
        return cls(name, [str(arg) for arg in fit], spec.get("monitor", "val/acc"), direction, params)

    @property
    def content(self) -> dict:
        """Everything that decides what a trial runs and how it is scored (not the study's name)."""
        params = {key: json.loads(distribution_to_json(d)) for key, d in self.params.items()}
        return {"fit": self.fit, "monitor": self.monitor, "direction": self.direction, "params": params}

    @property
    def text(self) -> str:
        return json.dumps(self.content, sort_keys=True)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def suggest(self, trial: optuna.trial.Trial) -> list[str]:
        """``--key value`` flags for one trial, drawn from each key's distribution."""
        flags = []
        for key, dist in self.params.items():
            if isinstance(dist, CategoricalDistribution):
                value = trial.suggest_categorical(key, dist.choices)
            else:
                suggest = trial.suggest_int if isinstance(dist, IntDistribution) else trial.suggest_float
                value = suggest(key, dist.low, dist.high, step=dist.step, log=dist.log)
            flags += [f"--{key}", str(value)]
        return flags

    def outside(self, trial: optuna.trial.FrozenTrial) -> list[str]:
        """The params of ``trial`` not drawn from this space's distributions or lying outside them."""
        wrong = []
        for key in sorted(self.params.keys() | trial.params.keys()):
            dist, value = self.params.get(key), trial.params.get(key)
            if dist is None or key not in trial.params or trial.distributions.get(key) != dist:
                wrong.append(key)
            elif isinstance(dist, CategoricalDistribution):
                wrong += [] if value in dist.choices else [key]
            elif not dist.low <= value <= dist.high:
                wrong.append(key)
        return wrong

    def changes_from(self, recorded: dict) -> list[str]:
        """What differs between this space and a study's recorded one, in words (empty: the same space)."""
        changes, now = [], self.content
        for field in ("monitor", "direction"):
            if recorded.get(field) != now[field]:
                changes.append(f"{field} {recorded.get(field)} -> {now[field]}")
        changes += _fit_changes(recorded.get("fit", []), now["fit"])
        old, new = recorded.get("params", {}), now["params"]
        for key in sorted(old.keys() | new.keys()):
            if key not in new:
                changes.append(f"param {key} removed")
            elif key not in old:
                changes.append(f"param {key} added")
            elif old[key] != new[key]:
                before, after = (json_to_distribution(json.dumps(d)) for d in (old[key], new[key]))
                changes.append(f"param {key} {before!r} -> {after!r}")
        return changes


def _fit_changes(old: list[str], new: list[str]) -> list[str]:
    """The edited stretches of two ``fit`` argument lists, each with the flag it belongs to."""
    changes = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i1 > 0 and old[i1 - 1].startswith("--") and not (old[i1:i2] + new[j1:j2])[0].startswith("--"):
            i1, j1 = i1 - 1, j1 - 1  # "--trainer.max_epochs 1 -> --trainer.max_epochs 3", not "1 -> 3"
        before, after = " ".join(old[i1:i2]), " ".join(new[j1:j2])
        if before and after:
            changes.append(f"fit args '{before}' -> '{after}'")
        else:
            changes.append(f"fit args '{before or after}' {'added' if after else 'removed'}")
    return changes


def _distribution(path: Path, key: str, spec) -> BaseDistribution:
    """One ``params:`` entry as an Optuna distribution; a typo or a missing bound is an error, not a default."""
    kind = spec.get("type", "float") if isinstance(spec, dict) else None
    if kind not in PARAM_KEYS:
        raise UserInputError(f"search space {path}: param {key}: type {kind!r}; expected float, int or categorical")
    unknown = set(spec) - PARAM_KEYS[kind] - {"type"}
    if unknown:
        takes = ", ".join(sorted(PARAM_KEYS[kind]))
        raise UserInputError(
            f"search space {path}: param {key}: unknown {', '.join(sorted(unknown))}; a {kind} takes {takes}"
        )
    missing = ({"choices"} if kind == "categorical" else {"low", "high"}) - set(spec)
    if missing:
        raise UserInputError(f"search space {path}: param {key}: a {kind} needs {', '.join(sorted(missing))}")
    try:
        if kind == "categorical":
            return CategoricalDistribution(list(spec["choices"]))
        number = float if kind == "float" else _integer
        step = spec.get("step", 1 if kind == "int" else None)
        args = {"log": bool(spec.get("log", False)), "step": None if step is None else number(step)}
        low, high = number(spec["low"]), number(spec["high"])
        return FloatDistribution(low, high, **args) if kind == "float" else IntDistribution(low, high, **args)
    except (TypeError, ValueError) as err:
        raise UserInputError(f"search space {path}: param {key}: {err}") from None


def _integer(value) -> int:
    if isinstance(value, bool) or not float(value).is_integer():
        raise ValueError(f"{value!r} is not an integer")
    return int(value)


def tie_to_space(found: optuna.Study, spec: Space, path: Path) -> None:
    """A new study records its space (user attrs ``space``, ``space_sha256``); a resumed one must have the same."""
    recorded = found.user_attrs.get("space")
    if recorded is None and not found.get_trials(deepcopy=False):  # new (or never run): this space is its own
        found.set_user_attr("space", spec.text)
        found.set_user_attr("space_sha256", spec.fingerprint)
        return
    fresh = "start a new study with --study <new name>"
    if recorded is None:
        raise UserInputError(f"study {found.study_name!r} holds trials but no record of its search space; {fresh}")
    if found.user_attrs.get("space_sha256") != spec.fingerprint:
        changes = "; ".join(spec.changes_from(json.loads(recorded))) or "the normalised content differs"
        raise UserInputError(
            f"study {found.study_name!r} was searched in another space than {path} ({changes}): {fresh}, or restore "
            f"{path} to keep this study (its space is in the study's user attr 'space')"
        )
