"""Train several seeds of one or more recipes, then ensemble them: ``python -m src.tools seeds``.

    python -m src.tools seeds --seeds '[0, 1, 2]' -- --config configs/fast.yaml   # any fit arguments after --
    python -m src.tools seeds --config configs/seeds/ensemble.yaml                 # the README's best recipe
    python -m src.tools seeds --folds 5 --seeds '[0]' -- --config configs/mnist.yaml  # 5 fold members, OOF score

Every member is a real ``python -m src.cli fit`` in its own run folder, ``<save_dir>/<name>/<tag>_seed<N>``,
whose ``member.json`` records its fit arguments before it trains (``src.tools.experiments.member_record``). It runs
in the caller's working directory, so relative paths mean there what they mean to ``src.cli``, and on Linux it
ends when this process does, however that is killed (``_killed_with_seeds``). Killed and
run again, it continues where it stopped: finished members are kept, an interrupted one resumes from its
``last.ckpt``, but only when it was trained with the arguments asked; otherwise it stops naming the difference
(``--retrain true`` retrains those members, keeping each old run folder as ``<run>.replaced-<n>``). Then it writes
``<save_dir>/<name>/ensemble.ckpt`` (one checkpoint holding every member's weights and what each was trained with,
``src.tools.ensemble_checkpoint``), which ``python -m src.cli test|predict --ckpt_path`` and the tools load like any
other, scores every member and the ensemble on the held-out labels when they exist, appending the scoring to
``<save_dir>/<name>/scores.json`` (a list, so no scoring is lost), and with ``--submit true`` writes the
ensemble's submission.

With ``--folds K`` every seed of every group trains K members, ``<tag>_seed<N>_fold<k>``, each holding out fold k
(``--data.holdout Folds --data.holdout.folds K --data.holdout.fold k``); with ``--bag_fraction F`` each seed trains
one member on its own bag (``--data.holdout Bag --data.holdout.fraction F --data.holdout.seed <seed>``, run folder
``<tag>_seed<N>_bag``). Either way the members' out-of-fold accuracy on train.csv is scored beside the held-out test
score, and the probabilities behind it are written to ``<save_dir>/<name>/oof.csv`` (``src.tools.experiments.oof``).
"""

from __future__ import annotations

import ctypes
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from jsonargparse import Namespace

from src.callbacks.run_summary import SUMMARY
from src.checkpoints import run_checkpoint
from src.cli import recipe_of, run
from src.models.tta import TTAShift, check_tta_shift
from src.tools.ensemble_checkpoint import ensemble_checkpoint
from src.tools.experiments.member_record import (
    RECORD,
    read_record,
    record_of,
    runs_to_retrain,
    set_aside,
    write_record,
)
from src.tools.experiments.oof import (
    TrainCSV,
    check_scorable,
    fit_config,
    held_out_predictions,
    out_of_fold,
    write_oof_csv,
)
from src.tools.experiments.scorings import append_scoring, print_scores, read_scorings
from src.utils import MissingLabelsError, UserInputError, atomic_write

# On the members' PYTHONPATH, so that their ``-m src.cli`` imports this src from the caller's working directory.
REPOSITORY = Path(__file__).resolve().parents[3]


@dataclass
class Members:
    """One group of ensemble members: the ``fit`` arguments they share and the seeds each is trained with.

    Args:
        fit: Arguments as typed after ``python -m src.cli fit`` (``[--config, configs/fast.yaml, ...]``).
        seeds: One member per seed.
        tag: Names the members' run folders (``<tag>_seed<N>``); distinct per group.
    """

    fit: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    tag: str = "member"


@dataclass(frozen=True)
class Member:
    """One training run of a group: its seed, its run folder, and the flags and record of the fold or bag it holds
    out (none for the recipe's own split)."""

    group: Members
    seed: int
    run_dir: Path
    split: tuple[str, ...] = ()
    held_out: tuple[tuple[str, object], ...] = ()

    @property
    def fit(self) -> list[str]:
        return [*self.group.fit, *self.split]

    @property
    def record(self) -> dict:
        return {**record_of(self.fit, self.seed), **dict(self.held_out)}

    @property
    def finished(self) -> bool:
        summary = self.run_dir / SUMMARY
        return summary.is_file() and json.loads(summary.read_text()).get("finished") is True

    def fit_command(self, save_dir: Path, name: str) -> list[str]:
        command = [sys.executable, "-m", "src.cli", "fit", *self.fit, "--seed_everything", str(self.seed)]
        command += ["--trainer.logger.init_args.save_dir", str(save_dir), "--trainer.logger.init_args.name", name]
        command += ["--trainer.logger.init_args.version", self.run_dir.name]
        last = self.run_dir / "checkpoints" / "last.ckpt"
        return command + (["--ckpt_path", str(last)] if last.is_file() else [])


def train(members: list[Member], asked: dict[Path, dict], save_dir: Path, name: str, parallel: int) -> None:
    """Fit every unfinished member (``parallel`` processes at a time), recording ``asked[run_dir]`` in its run folder
    first when none is there; each writes ``fit.log`` in its run folder."""
    todo = [member for member in members if not member.finished]
    print(f"{len(members) - len(todo)} of {len(members)} members already trained; training {len(todo)}", flush=True)
    python_path = [str(REPOSITORY), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(python_path))
    if parallel > 1:  # share the cores instead of oversubscribing them
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // parallel)))
    killed_with_seeds = _killed_with_seeds()

    def fit(member: Member) -> None:
        member.run_dir.mkdir(parents=True, exist_ok=True)
        if read_record(member.run_dir) is None:  # a resumed member keeps the record of its first start
            write_record(member.run_dir, asked[member.run_dir])
        started = time.monotonic()
        with (member.run_dir / "fit.log").open("a") as log:  # in the caller's working directory, as relative paths say
            done = subprocess.run(
                member.fit_command(save_dir, name), env=env, stdout=log, stderr=log, preexec_fn=killed_with_seeds
            )
        if done.returncode != 0:
            raise UserInputError(f"member {member.run_dir.name} failed (exit {done.returncode}); see {log.name}")
        print(f"trained {member.run_dir.name} in {time.monotonic() - started:.0f} s", flush=True)

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        list(pool.map(fit, todo))


def _killed_with_seeds():
    """A ``preexec_fn`` that has the kernel SIGKILL the member when the thread that started it ends, so that a seeds
    process killed by any signal (SIGTERM's default action included) takes its members with it, and no orphan goes
    on training a run folder that a rerun trains again. SIGKILL, because a member that caught SIGTERM could write
    on; resuming from ``last.ckpt`` is made for that. Linux only (``PR_SET_PDEATHSIG``): on macOS and Windows a
    member outlives a seeds process killed from outside and is stopped by its own process id."""
    if not sys.platform.startswith("linux"):
        return None
    prctl, parent = ctypes.CDLL(None, use_errno=True).prctl, os.getpid()  # looked up before fork: the child only calls

    def end_with_parent() -> None:
        # The trigger is the exit of the forking thread: a pool thread here, which waits for its member to end.
        prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # seeds died before the call took effect
            os._exit(1)

    return end_with_parent


def write_ensemble(path: Path, members: dict[str, tuple[dict, Path]], command: str) -> None:
    """The members' ensemble as one checkpoint (``members``: run name -> (record, checkpoint)), each member's run and
    fit arguments kept in it; then what it holds and how to use it are printed."""
    checkpoint = ensemble_checkpoint([c for _, c in members.values()])
    for entry, (name, (record, _)) in zip(checkpoint["ensemble"]["members"], members.items(), strict=True):
        entry.update(run=name, fit=fit_argv(record))
    checkpoint["ensemble"]["command"] = command
    with atomic_write(path, "wb") as handle:
        torch.save(checkpoint, handle)
    lines = [f"wrote {path}: the ensemble of {len(members)} members; written by: {command}"]
    lines.append(f"members, each trained by python -m src.cli fit <arguments> ({RECORD}):")
    lines += [f"  {name}: {shlex.join(fit_argv(record))}" for name, (record, _) in members.items()]
    lines.append(f"python -m src.cli test|predict --ckpt_path {path}")
    print("\n".join(lines), flush=True)


def members_of(groups: list[Members], folder: Path, folds: int | None, bag_fraction: float | None) -> list[Member]:
    """Every member to train: one per group and seed, or K per seed (``folds``), or one bag per seed."""
    if folds is not None and bag_fraction is not None:
        raise UserInputError("--folds and --bag_fraction each choose what members hold out: pass one of them")
    if folds is not None and folds < 2:
        raise UserInputError(f"--folds {folds}; expected 2 or more")
    if bag_fraction is not None and not 0 < bag_fraction < 1:
        raise UserInputError(f"--bag_fraction {bag_fraction}; expected a share of the rows in (0, 1)")
    for group in groups if folds is not None or bag_fraction is not None else []:
        if typed := [flag for arg in group.fit if (flag := arg.split("=")[0]).startswith("--data.holdout")]:
            raise UserInputError(
                f"the fit arguments of {group.tag} set {', '.join(typed)}, which --folds/--bag_fraction set per "
                "member; drop them from the fit arguments"
            )
    work = []
    for group in groups:
        for seed in group.seeds:
            run = folder / f"{group.tag}_seed{seed}"
            if folds is not None:
                for k in range(folds):
                    flags = (
                        "--data.holdout",
                        "Folds",
                        "--data.holdout.folds",
                        str(folds),
                        "--data.holdout.fold",
                        str(k),
                    )
                    work.append(
                        Member(group, seed, folder / f"{run.name}_fold{k}", flags, (("folds", folds), ("fold", k)))
                    )
            elif bag_fraction is not None:
                flags = (
                    "--data.holdout",
                    "Bag",
                    "--data.holdout.fraction",
                    str(bag_fraction),
                    "--data.holdout.seed",
                    str(seed),
                )
                recorded = (("bag_fraction", bag_fraction), ("bag_seed", seed))
                work.append(Member(group, seed, folder / f"{run.name}_bag", flags, recorded))
            else:
                work.append(Member(group, seed, run))
    return work


def member_checkpoint(run_dir: Path) -> Path:
    """The member's best checkpoint by val/acc, or its last one when its recipe keeps no best (as a recipe whose
    out-of-fold score must not select on the rows it is scored on does)."""
    best = run_dir / "checkpoints" / "best.ckpt"
    return run_checkpoint(run_dir, "best" if best.is_file() else "last")[0]


def fit_argv(record: dict) -> list[str]:
    """A member's ``fit`` arguments with its seed, as its record holds them."""
    return [*record["fit"], "--seed_everything", str(record["seed"])]


def check_accelerators(configs: dict[str, Namespace]) -> None:
    """Refuse, before anything is written, groups (``configs``: tag -> what its fit arguments set) whose recipe
    trains on an accelerator torch finds none of here: each member would only end in a traceback in its fit.log."""
    from pytorch_lightning.accelerators import CUDAAccelerator, MPSAccelerator

    usable = {"cuda": CUDAAccelerator.is_available(), "mps": MPSAccelerator.is_available()}
    usable["gpu"] = usable["cuda"] or usable["mps"]  # Lightning's "gpu": CUDA, or MPS on a Mac
    wanted = {tag: str(config.trainer.accelerator) for tag, config in configs.items()}
    missing = {tag: accelerator for tag, accelerator in wanted.items() if usable.get(accelerator) is False}
    if missing:
        tags, accelerator = ", ".join(missing), next(iter(missing.values()))
        raise UserInputError(
            f"members {tags} train on a GPU (trainer.accelerator {accelerator}) and torch finds none here: the "
            "recipe needs a CUDA GPU; to try it on the CPU, add --trainer.accelerator cpu to their fit arguments "
            "(after --, or at the end of each group's fit list in a copy of its config file)"
        )


def check_test_file(path: Path) -> None:
    """Refuse a test file missing (plain or ``.gz``) before training: scoring and submitting read it after."""
    if not path.is_file() and not path.with_name(f"{path.name}.gz").is_file():
        raise UserInputError(
            f"{path} not found: the members' scores and the submission read it after training; put the test file "
            "there, or pass --score false without --submit"
        )


def held_out_accuracy(args: list[str]) -> float | None:
    """``test/acc`` of ``python -m src.cli test <args>``; None when the test set has no labels."""
    try:
        return float(run(["test", *args]).trainer.callback_metrics["test/acc"])
    except MissingLabelsError:
        return None


def seeds(
    seeds: list[int] | None = None,
    fit: list[str] | None = None,
    members: list[Members] | None = None,
    name: str | None = None,
    save_dir: Path = Path("logs"),
    parallel: int = 1,
    retrain: bool = False,
    score: bool = True,
    tta_shift: TTAShift = 0.0,
    submit: bool = False,
    submission: Path = Path("submissions/submission.csv"),
    folds: int | None = None,
    bag_fraction: float | None = None,
) -> dict:
    """Train members with ``python -m src.cli fit`` (its arguments follow ``--``), then score them and their ensemble.

    Writes the ensemble's checkpoint, scores members and ensemble, optionally submits; returns the scoring appended to
    ``scores.json``. On the command line: ``python -m src.tools seeds [options] -- [fit arguments]``.

    Args:
        seeds: Seeds of the single group given by ``fit`` (the arguments after ``--``).
        fit: ``fit`` arguments of that group; on the command line, everything after ``--``.
        members: Groups of members instead (what ``configs/seeds/ensemble.yaml`` lists).
        name: Experiment folder under ``save_dir``; default: the first group's recipe with ``_seeds``.
        save_dir: Where the runs go (the logger's save_dir).
        parallel: Members trained at the same time (each a process; on one CPU they share the cores).
        retrain: Retrain the members whose run folder holds a training with other fit arguments (without it, such
            a member stops the command); each old run folder is kept, renamed ``<run>.replaced-<n>``.
        score: Score every member and the ensemble with ``test`` when the test set has labels.
        tta_shift: Test-time augmentation for the ensemble's score, the out-of-fold score and the submission, in
            pixels (see ``TTAShift``); members are scored without it, and the table says which score has which.
        submit: Write the ensemble's submission to ``submission``.
        submission: Where ``submit`` writes it.
        folds: Train K members per seed, member k holding out fold k of K; score their out-of-fold accuracy.
        bag_fraction: Train each seed's member on its own bag of this share of the rows (seeded by the seed);
            score their out-of-fold accuracy on the rows each left out.
    """
    call = dict(locals())  # what the scoring records as the command of a Python call
    tta_shift = check_tta_shift(tta_shift)  # the CLI's TTAShift type checks it for command lines, this for Python
    if parallel < 1:
        raise UserInputError(f"--parallel {parallel}; expected 1 or more members trained at a time")
    groups = members or [Members(fit=list(fit or []), seeds=list(seeds or [0, 1, 2]), tag=recipe_of(fit or []))]
    if len({group.tag for group in groups}) != len(groups):
        raise UserInputError("every group of members needs its own tag (their run folders are <tag>_seed<N>)")
    name = name or f"{recipe_of(groups[0].fit)}_seeds"
    save_dir = Path(save_dir)
    work = members_of(groups, save_dir / name, folds, bag_fraction)
    asked = {member.run_dir: member.record for member in work}
    configs = {group.tag: fit_config(group.fit) for group in groups}
    check_accelerators(configs)
    scores, ensemble, oof_csv = (save_dir / name / file for file in ("scores.json", "ensemble.ckpt", "oof.csv"))
    read_scorings(scores)  # a history it could not extend stops the command before any training
    retrained = runs_to_retrain(asked, retrain)
    # what scoring and submitting read after training is checked before it, and before anything is renamed
    data = {tag: config.data for tag, config in configs.items()} if score or submit else {}
    for settings in data.values():
        check_test_file(Path(settings.data_dir, settings.test_file))
    sources = {tag: TrainCSV.of(settings) for tag, settings in data.items()}  # for the out-of-fold score
    if score and (folds is not None or bag_fraction is not None):
        kept = [member_checkpoint(m.run_dir) for m in work if m.finished and m.run_dir not in retrained]
        check_scorable(list(sources.values()), kept)
    for run_dir in retrained:
        set_aside(run_dir, [scores])
    started = time.monotonic()
    train(work, asked, save_dir, name, parallel)
    trained_s = time.monotonic() - started
    trained = {m.run_dir.name: (read_record(m.run_dir), member_checkpoint(m.run_dir)) for m in work}
    command = _invocation(call)
    write_ensemble(ensemble, trained, command)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    scoring: dict = {"time": now, "command": command, "tta_shift": tta_shift, "train_wall_s": round(trained_s)}
    scoring["members"] = {run: {"fit": fit_argv(record), "checkpoint": str(c)} for run, (record, c) in trained.items()}
    for member in work:  # which fold or bag each member held out
        scoring["members"][member.run_dir.name].update(member.held_out)
    # the data the members share (leak and provenance checks apply to all of them); the ensemble checkpoint names its
    # own network, which a member's typed --model.* flags would replace
    data_args = without_model_flags(groups[0].fit)
    ensemble_args = [*data_args, "--ckpt_path", str(ensemble), "--model.tta_shift", str(tta_shift)]
    if score:
        for member in work:
            entry = scoring["members"][member.run_dir.name]
            # a member's plain score, as the runs table shows it first (TTA costs a pass per shift); labelled as such
            plain = ["--model.tta_shift", "0"]
            entry["test_acc"] = held_out_accuracy([*member.fit, "--ckpt_path", entry["checkpoint"], *plain])
            entry["tta_shift"] = 0.0
        scoring["ensemble_test_acc"] = held_out_accuracy(ensemble_args)
        if folds is not None or bag_fraction is not None:
            held = [held_out_predictions(trained[m.run_dir.name][1], sources[m.group.tag], tta_shift) for m in work]
            oof = out_of_fold(held)
            written = write_oof_csv(oof_csv, oof)
            scoring["out_of_fold"] = {"acc": oof.accuracy, "rows": written, "of_rows": len(oof.labels)}
            scoring["out_of_fold"]["csv"] = str(oof_csv)
        print_scores(scoring)
    if submit:
        run(["predict", *ensemble_args, "--submission.output", str(submission)])
        scoring["submission"] = str(submission)
    scoring["total_wall_s"] = round(time.monotonic() - started)
    append_scoring(scores, scoring)
    return scoring


def without_model_flags(fit: list[str]) -> list[str]:
    """``fit`` arguments without the ``--model.*`` flags (``--model.k v`` or ``--model.k=v``)."""
    kept, skip = [], False
    for arg in fit:
        if skip:
            skip = False
        elif arg.startswith("--model."):
            skip = "=" not in arg
        else:
            kept.append(arg)
    return kept


def _invocation(call: dict) -> str:
    """The command line when run as ``python -m src.tools seeds`` (which names it so in ``sys.argv[0]``), else the
    Python call (a test, a notebook)."""
    if sys.argv[:1] == ["python -m src.tools seeds"]:
        return shlex.join(["python", "-m", "src.tools", "seeds", *sys.argv[1:]])
    return f"seeds({', '.join(f'{key}={value!r}' for key, value in call.items())})"


def command(argv: list[str]) -> dict:
    """``python -m src.tools seeds [options] [-- fit arguments]``"""
    from jsonargparse import CLI

    own, fit = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    return CLI(seeds, args=[*own, *(["--fit", json.dumps(fit)] if fit else [])], exit_on_error=False)
