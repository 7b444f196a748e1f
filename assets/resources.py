"""Deployment settings as Dagster resources: local defaults, production values from the environment."""


import os
from pathlib import Path

import dagster as dg

from pipeline.cleaning_config import CleaningConfig, load_cleaning_config

DEFAULT_WORKDIR = Path(os.environ.get("ARENA_WORKDIR", ".workdir")).resolve()


class ArenaStorage(dg.ConfigurableResource):
    """Where raw logs are read and pipeline tables are written."""

    logs_dir: str = os.environ.get("ARENA_LOGS_DIR", str(DEFAULT_WORKDIR / "logs"))
    workdir: str = str(DEFAULT_WORKDIR)
    cleaning_config: str | None = os.environ.get("ARENA_CLEANING_CONFIG")
    workers: int = int(os.environ.get("ARENA_WORKERS", os.cpu_count() or 1))

    @property
    def logs(self) -> Path:
        return Path(self.logs_dir)

    @property
    def stage_root(self) -> Path:
        return Path(self.workdir) / "staging"

    @property
    def cleaned_dir(self) -> Path:
        return Path(self.workdir) / "cleaned"

    def cleaning(self) -> CleaningConfig:
        return load_cleaning_config(Path(self.cleaning_config) if self.cleaning_config else None)
