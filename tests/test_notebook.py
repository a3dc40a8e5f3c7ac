"""notebooks/kaggle.ipynb, run as Kaggle runs it: Kaggle-shaped CSVs in a data folder the kernel cannot write to, a
working folder elsewhere, a tiny budget; nbclient executes every cell and the submission is checked."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from src.utils import fastest_precision
from tests.conftest import ROOT
from tests.learnable_digits import write_learnable_csvs

NOTEBOOK = ROOT / "notebooks" / "kaggle.ipynb"
NOBODY = 65534
KERNEL = "kaggle-test"


def as_kernel_user() -> list[str]:
    """The prefix that runs a command as the kernel's user. Root ignores file modes, so as root the kernel runs as
    nobody. It keeps one capability, reading and searching any folder (this venv's python may lie under /root, which
    is 0700), and none that writes: a write into the data folder fails as it does on Kaggle."""
    if os.geteuid() != 0:
        return []
    return [
        "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
        "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search",
    ]  # fmt: skip


def writable_by_kernel(folder: Path) -> Path:
    folder.mkdir(parents=True)
    if os.geteuid() == 0:
        os.chown(folder, NOBODY, NOBODY)
    return folder


def snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry under ``folder``: mode, mtime and content hash (files)."""
    return {
        str(path.relative_to(folder)): (
            path.stat().st_mode,
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "",
        )
        for path in sorted([folder, *folder.rglob("*")])
    }


def with_parameters(notebook, **values):
    """The notebook with a cell setting ``values`` after its ``parameters`` cell, as papermill injects them."""
    index = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    source = "\n".join(f"{key} = {value!r}" for key, value in values.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(index + 1, cell)
    return notebook


def make_read_only(folder: Path) -> Path:
    """Every file and folder under ``folder`` read-only, as Kaggle mounts its inputs."""
    for path in [*folder.rglob("*"), folder]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    return folder


@pytest.fixture
def kaggle_folders(monkeypatch):
    """Kaggle's layout: the data (test.csv without labels) and the project, both read-only, a working folder, and a
    kernel spec that starts this venv's python as the kernel's user, with the project copy on PYTHONPATH and a HOME
    it can write to. All of it lives in a folder of its own: the kernel's user must pass access(2) checks on every
    parent folder, where capabilities don't count, and pytest's tmp_path lies in a folder only root may enter."""
    base = Path(tempfile.mkdtemp(prefix="kaggle-notebook-"))
    base.chmod(0o755)
    try:
        data = write_learnable_csvs(base / "input" / "digit-recognizer", n_train=200, n_test=60)
        (data / "test_labels.csv").unlink()
        make_read_only(data)
        project = base / "project"
        for folder in ("src", "configs"):
            shutil.copytree(ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(ROOT / "pyproject.toml", project)
        make_read_only(project)
        work, home = writable_by_kernel(base / "working"), writable_by_kernel(base / "home")
        spec = base / "jupyter" / "kernels" / KERNEL
        spec.mkdir(parents=True)
        argv = [*as_kernel_user(), sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        kernel_env = {
            "HOME": str(home),
            "IPYTHONDIR": str(home / ".ipython"),
            "MPLCONFIGDIR": str(home / ".matplotlib"),
            "PYTHONPATH": str(project),
        }
        (spec / "kernel.json").write_text(json.dumps({"argv": argv, "env": kernel_env, "language": "python"}))
        monkeypatch.setenv("JUPYTER_PATH", str(base / "jupyter"))
        yield data, project, work
    finally:
        for path in base.rglob("*"):  # writable again, so that a non-root user can remove them
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(base)


@pytest.mark.slow
def test_the_kaggle_notebook_trains_and_submits_without_writing_into_the_data_folder(kaggle_folders):
    data, project, work = kaggle_folders
    wheels = make_read_only(writable_by_kernel(work.parent / "wheels"))
    write = "import sys\ntry:\n    open(sys.argv[1], 'w')\nexcept PermissionError:\n    print('refused')"
    probe = subprocess.run(
        [*as_kernel_user(), sys.executable, "-c", write, str(data / "probe")], capture_output=True, text=True
    )
    assert probe.stdout.strip() == "refused", f"the kernel's user could write into the data folder: {probe.stderr}"
    before = snapshot(data)
    notebook = with_parameters(
        nbformat.read(NOTEBOOK, as_version=4),
        data_dir=str(data),
        work_dir=str(work),
        project_dir=str(project),
        max_epochs=1,
        limit_train_batches=2,
        install="offline",  # from an empty wheel folder: every requirement is met, so pip must change nothing
        wheels_dir=str(wheels),
    )
    NotebookClient(notebook, timeout=300, kernel_name=KERNEL, resources={"metadata": {"path": str(work)}}).execute()

    assert snapshot(data) == before
    checkpoints = work / "logs" / "mnist" / "version_0" / "checkpoints"
    assert {path.name for path in checkpoints.iterdir()} >= {"best.ckpt", "last.ckpt"}
    submission = pd.read_csv(work / "submission.csv")
    assert list(submission.columns) == ["ImageId", "Label"]
    assert submission["ImageId"].tolist() == list(range(1, len(pd.read_csv(data / "test.csv")) + 1))
    assert submission["Label"].between(0, 9).all()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    text = "".join(output.get("text", "") for output in outputs)
    assert f"precision used: {fastest_precision()}" in text
    for name in ("torch", "pytorch-lightning"):  # the install cell's report: pip kept the environment's builds
        assert f"{name:18} {importlib.metadata.version(name)}" in text
    pictures = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(pictures) == 3, "learning curves, confusion matrix and misclassified digits, shown inline"
    assert "misclassified validation digits of epoch 0" in text


class _Stop(Exception):
    """Raised by the stand-in for ``src.cli.run``: the command line is all this test needs."""


@pytest.mark.parametrize(("given", "flags"), [({}, []), ({"max_epochs": 5}, ["--trainer.max_epochs", "5"])])
def test_the_notebook_trains_for_the_recipes_own_budget_unless_a_parameter_overrides_it(
    tmp_path, monkeypatch, given, flags
):
    """configs/fast.yaml's one-cycle schedule spans its own 15 epochs: the notebook's fit command passes a budget
    flag only when a parameter sets one. Its cells run here up to fit, whose command is caught instead of run."""
    import src.cli

    commands = []

    def caught(args):
        commands.append(args)
        raise _Stop

    monkeypatch.setattr(src.cli, "run", caught)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)  # the notebook changes into work_dir; this puts the cwd back afterwards
    parameters = dict(data_dir=str(tmp_path), work_dir=str(tmp_path), project_dir=str(ROOT), install=False)
    notebook = with_parameters(nbformat.read(NOTEBOOK, as_version=4), recipe="configs/fast.yaml", **parameters, **given)
    namespace: dict = {}
    with pytest.raises(_Stop):
        for cell in notebook.cells:
            if cell.cell_type == "code":
                exec(compile(cell.source, NOTEBOOK.name, "exec"), namespace)
    (fit,) = commands
    assert fit[0] == "fit" and fit[fit.index("--config") + 1].endswith("configs/fast.yaml")
    epochs = fit[fit.index("--trainer.max_epochs") :][:2] if "--trainer.max_epochs" in fit else []
    assert epochs == flags
    assert "--trainer.limit_train_batches" not in fit
