"""``python -m src.tools sweep --storage postgresql://...``: two workers on one study in a real PostgreSQL server
(Debian's ``postgresql``, started here in a temporary folder), one of them killed mid-trial and started again."""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy
import yaml
from optuna.trial import TrialState

from tests.conftest import ROOT
from tests.learnable_digits import write_learnable_csvs
from tests.tools.experiments.test_sweep import write_space

DONE = (TrialState.COMPLETE, TrialState.PRUNED)


def unavailable(reason: str) -> None:
    """Skip where PostgreSQL cannot be had; .ci/run installs it and sets DIGITS_REQUIRE_POSTGRES: there, fail."""
    required = os.environ.get("DIGITS_REQUIRE_POSTGRES") or os.environ.get("CI") == "true"
    (pytest.fail if required else pytest.skip)(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> str:
    """A throwaway PostgreSQL server on 127.0.0.1 (initdb + pg_ctl, as the ``postgres`` user when run as root)."""
    initdb = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1:]), None)
    if initdb is None:
        unavailable("no PostgreSQL server here (no initdb): apt-get install postgresql")
    try:
        import psycopg  # noqa: F401  (SQLAlchemy's driver for postgresql:// URLs)
    except ImportError:
        unavailable("no psycopg (PostgreSQL driver): pip install -e '.[sweep]'")
    as_user = []
    folder = Path(tempfile.mkdtemp(prefix="digits-postgres-"))  # not under pytest's tmp: root-only (0700) parents
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        try:
            shutil.chown(folder, "postgres")
        except LookupError:
            shutil.rmtree(folder)
            unavailable("running as root and there is no postgres user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    pg_ctl, port, data = str(Path(initdb).with_name("pg_ctl")), free_port(), folder / "data"
    quiet = {"cwd": folder, "check": True, "capture_output": True, "text": True, "timeout": 60}
    try:
        subprocess.run([*as_user, initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "--no-locale",
                        "-E", "UTF8"], **quiet)  # fmt: skip
        options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c max_connections=50"
        subprocess.run([*as_user, pg_ctl, "-D", data, "-l", folder / "server.log", "-w", "-o", options, "start"],
                       **quiet)  # fmt: skip
    except subprocess.CalledProcessError as err:
        log = (folder / "server.log").read_text() if (folder / "server.log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {err.cmd}: {err.stderr or err.stdout}\n{log}")
    yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "stop"], cwd=folder, capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


def open_study_when_made(url: str, deadline: float) -> optuna.Study:
    """The workers' study, once they have made it (opening it earlier would race them to create the tables)."""
    engine = sqlalchemy.create_engine(url)
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            try:
                if connection.execute(sqlalchemy.text("SELECT 1 FROM studies WHERE study_name = 'tiny'")).first():
                    break
            except sqlalchemy.exc.ProgrammingError:  # no tables yet
                pass
        time.sleep(0.2)
    engine.dispose()
    return optuna.load_study(study_name="tiny", storage=url)


def ran_by(process: subprocess.Popen, trial: optuna.trial.FrozenTrial) -> bool:
    return trial.user_attrs.get("worker", "").endswith(f":{process.pid}")


@pytest.mark.slow
def test_two_workers_share_a_postgres_study_through_a_kill_a_retry_and_a_restart(tmp_path, postgres_url):
    n_trials = 4
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=60, n_test=20)
    space, logs = write_space(tmp_path / "space.yaml", data_dir, epochs=1), tmp_path / "logs"
    tiny = tmp_path / "tiny.yaml"  # a few batches, and only the callback the checks read (figures take seconds)
    tiny.write_text(yaml.safe_dump({"trainer": {"limit_train_batches": 2, "limit_val_batches": 1, "callbacks": [
        {"class_path": "pytorch_lightning.callbacks.ModelCheckpoint",
         "init_args": {"filename": "last", "save_top_k": 1, "enable_version_counter": False}}]}}))  # fmt: skip
    spec = yaml.safe_load(space.read_text())
    space.write_text(yaml.safe_dump({**spec, "fit": ["--config", str(tiny), *spec["fit"]]}))
    command = [sys.executable, "-m", "src.tools", "sweep", "--space", str(space), "--trials", str(n_trials),
               "--save_dir", str(logs), "--storage", postgres_url, "--heartbeat_s", "1"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}  # two workers: one core each

    def start(tag: str) -> subprocess.Popen:
        out = (tmp_path / f"{tag}.log").open("w")
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    a, b = start("a"), start("b")  # at once, on an empty database: both create the tables and the study
    deadline, killed = time.monotonic() + 120, None
    study = open_study_when_made(postgres_url, deadline)
    while time.monotonic() < deadline and killed is None and b.poll() is None:
        trials = study.get_trials()
        mid_trial = [t for t in trials if t.state == TrialState.RUNNING and ran_by(b, t) and t.params]  # fitting
        if mid_trial and any(t.state == TrialState.COMPLETE for t in trials):
            b.send_signal(signal.SIGKILL)
            killed = mid_trial[0]
        time.sleep(0.1)
    b.wait()
    assert killed is not None, (tmp_path / "b.log").read_text()[-3000:]
    b_again = start("b_again")  # the killed worker started again
    for worker in (a, b_again):
        worker.wait(timeout=240)
    logs_of = {tag: (tmp_path / f"{tag}.log").read_text() for tag in ("a", "b_again")}
    assert a.returncode == 0 and b_again.returncode == 0, {tag: text[-3000:] for tag, text in logs_of.items()}

    trials = study.get_trials()
    done = [t for t in trials if t.state in DONE]
    assert len(done) == n_trials  # not one more: two workers never both run the last trial
    assert len({t.number for t in trials}) == len(trials)
    states = {t.number: t.state.name for t in trials}
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [killed.number], (killed.number, states)
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    killed = next(t for t in trials if t.number == killed.number)  # with every parameter it drew before the kill
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retried) == 1 and retried[0].state in DONE and retried[0].params == killed.params  # retried once
    # the retry ran on a live worker: `a`, or the restarted `b` (which may find the study complete instead: `a` can
    # finish everything while it starts; either way it ends naming the same best config, checked below)
    assert ran_by(a, retried[0]) or ran_by(b_again, retried[0])

    # every finished trial is one fit, in its own folder: nothing lost, nothing run twice
    assert sorted(Path(t.user_attrs["run_dir"]) for t in done) == sorted(logs / "sweep_tiny" / f"trial_{t.number}"
                                                                         for t in done)  # fmt: skip
    folders = {p.name for p in (logs / "sweep_tiny").iterdir()} - {f"trial_{killed.number}"}
    assert folders == {f"trial_{t.number}" for t in done}
    for trial in done:
        run_dir = Path(trial.user_attrs["run_dir"])
        assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1 and (run_dir / "checkpoints/last.ckpt").is_file()

    # one best config, whole, of the best trial (ties: the lowest number), whoever of the two wrote it
    best = max((t for t in done if t.state == TrialState.COMPLETE), key=lambda t: (t.value, -t.number))
    path = logs / "sweeps" / "tiny_best.yaml"
    text = path.read_text()
    assert text.startswith(f"# Best of study tiny: trial {best.number}, value {best.value:.4f}\n")
    config = yaml.safe_load(text)
    assert config["model"]["optimizer"]["init_args"]["lr"] == best.params["model.optimizer.init_args.lr"]
    assert config["trainer"]["logger"]["init_args"]["name"] == "tiny_best"
    assert not [p for p in path.parent.iterdir() if p.name != path.name]  # no temp file left, no SQLite study
    for text in logs_of.values():
        assert re.findall(r"best trial (\d+):", text) == [str(best.number)]
    assert "; wrote " in logs_of["a"] + logs_of["b_again"]  # the other one found it there (or wrote the same text)


@pytest.mark.parametrize("env", [{"CI": "true"}, {"DIGITS_REQUIRE_POSTGRES": "1"}, {}])
def test_no_postgres_skips_the_test_only_outside_ci(monkeypatch, env):
    for name in ("CI", "DIGITS_REQUIRE_POSTGRES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    outcome = pytest.skip.Exception if not env else pytest.fail.Exception
    with pytest.raises(outcome, match="no initdb"):
        unavailable("no PostgreSQL server here (no initdb)")
