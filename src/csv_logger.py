"""The CSV logger of ``configs/presets/csv.yaml`` (docs/trackers.md): Lightning's, appending to a resumed run."""

from __future__ import annotations

import csv

from pytorch_lightning import loggers
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment


class CSVLogger(loggers.CSVLogger):
    """Lightning's ``CSVLogger``, except that logging into an existing run (``fit --ckpt_path last``, ``test``)
    appends to its ``metrics.csv``: Lightning's deletes the file, and with it the epochs before the resume."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


class _AppendingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:  # Lightning's removes metrics.csv; this one continues its columns
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = next(csv.reader(file), [])
