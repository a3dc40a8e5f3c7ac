"""How sweep workers share one Optuna study: opening its storage, claiming trials, beating while a trial runs.

Any number of workers (processes, machines) may run ``python -m src.tools sweep`` on one study at once. Between them:
a trial number is run by one worker only (Optuna numbers trials under a lock on the study's row); the study ends
with exactly ``trials`` finished (complete or pruned) trials, because a worker runs a trial only inside its share
(see ``has_slot``); a trial whose worker dies stops beating, is failed by the next worker to look and is queued
again, once, with its parameters; and a worker whose share is taken waits for the running trials instead of
leaving, so it runs that retry, and every worker ends when the study is complete.
"""

from __future__ import annotations

import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from os import getpid

import optuna
import sqlalchemy
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import TrialState

from src.utils import UserInputError

DONE = (TrialState.COMPLETE, TrialState.PRUNED)


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Without the warnings that Optuna's heartbeat parts are experimental, and that ``study.ask`` gives because a
    heartbeat storage is meant for ``study.optimize`` (``run_trials`` beats itself: ``heartbeat``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
        yield


def open_storage(url: str, heartbeat_s: int) -> RDBStorage:
    """The study's database, whose running trials beat every ``heartbeat_s``; one named error if it cannot open.

    Workers started at once on an empty database race to create Optuna's tables (optuna#1092: the loser's
    ``CREATE TABLE`` fails), so a failed creation is tried again once the winner's tables are there.
    """
    shown = sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    for delay in (0.5, 1, 2, 4, None):
        try:
            with quiet_optuna():
                return RDBStorage(
                    url, heartbeat_interval=heartbeat_s, grace_period=2 * heartbeat_s,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
                )  # fmt: skip
        except ImportError as err:
            why = err.__cause__ or err
            raise UserInputError(f"--storage {shown}: no driver for it ({why}): pip install -e '.[sweep]'") from None
        except sqlalchemy.exc.DBAPIError as err:
            racing = not isinstance(err, sqlalchemy.exc.OperationalError) or "already exists" in str(err.orig)
            if not racing or delay is None:  # SQLite says "table ... already exists" as an OperationalError
                raise UserInputError(f"--storage {shown}: cannot open it: {str(err.orig).strip()}") from None
            time.sleep(delay)


def has_slot(found: optuna.Study, trial: optuna.trial.Trial, trials: int) -> bool:
    """Whether ``trial`` (just asked for) is among the study's first ``trials``: fewer than ``trials`` trials are
    finished or running with a lower number. Workers that asked at the same moment agree on who runs and who not."""
    others = found.get_trials(deepcopy=False, states=(*DONE, TrialState.RUNNING))
    return sum(t.state in DONE or t.number < trial.number for t in others) < trials


def run_trials(found: optuna.Study, storage: RDBStorage, objective: Callable, trials: int, poll_s: float) -> None:
    """Claim and run trials until the study holds ``trials`` finished ones (this worker's and everyone else's).

    Hand-written instead of ``study.optimize`` with ``MaxTrialsCallback``, which checks the count only after a
    trial and so lets every worker start one more trial when the study is one short.
    """
    worker, waited_for = f"{socket.gethostname()}:{getpid()}", None
    study_id = storage.get_study_id_from_name(found.study_name)
    while True:
        with quiet_optuna():
            fail_stale_trials(found)  # a dead worker's trial: failed, and queued again once
        done = found.get_trials(deepcopy=False, states=DONE)
        running = [t.number for t in found.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
        if len(done) >= trials:
            return
        if len(done) + len(running) >= trials:  # the rest is running elsewhere; a retry may still come
            if running != waited_for:
                print(f"{len(done)} of {trials} trials finished; waiting for trial(s) {running} running elsewhere")
                waited_for = running
            time.sleep(poll_s)
            continue
        with quiet_optuna():
            trial = found.ask()  # a retry queued by fail_stale_trials first, else a new trial
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        with heartbeat(storage, trial_id):
            if not has_slot(found, trial, trials):  # another worker asked at the same moment and came first
                storage.set_trial_state_values(trial_id, TrialState.WAITING)  # left for whoever asks next
                continue
            trial.set_user_attr("worker", worker)
            run_one(found, trial, objective)


def run_one(found: optuna.Study, trial: optuna.trial.Trial, objective: Callable) -> None:
    """Run ``objective`` on ``trial`` and record how it ended, as ``study.optimize`` does; a failure is raised."""
    try:
        value = objective(trial)
    except optuna.TrialPruned:
        ended = found.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
    except BaseException:
        found.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        raise
    else:
        ended = found.tell(trial, value, skip_if_finished=True)
    if ended.state not in DONE:  # it stopped beating (a stalled machine) and another worker failed it meanwhile
        print(f"trial {trial.number} was failed by another worker while it ran ({ended.state.name}); not counted")
    else:
        print(f"trial {trial.number} {ended.state.name.lower()}: {ended.value}")


@contextmanager
def heartbeat(storage: RDBStorage, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat now and every heartbeat interval until the block ends (what Optuna's private
    ``HeartbeatThread`` does inside ``optimize``)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(storage.get_heartbeat_interval()):
            storage.record_heartbeat(trial_id)

    storage.record_heartbeat(trial_id)
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
