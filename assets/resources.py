"""Deployment settings as Dagster resources: local defaults, production values from the environment."""


import os
from pathlib import Path

import dagster as dg

from pipeline.cleaning_config import CleaningConfig, load_cleaning_config
from pipeline.release import ReleaseWorkspace
from pipeline.release_config import ReleaseConfig, Salt, load_release_config, resolve_salt
from pipeline.stage_settings import StageSettings, load_stage_settings

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


class ReleaseSettings(dg.ConfigurableResource):
    """Which release to build: the release config file, plus the model stages' deployment settings."""

    config_file: str = os.environ.get("ARENA_RELEASE_CONFIG", "release_configs/example.yaml")
    stages_file: str | None = os.environ.get("ARENA_STAGES_FILE")
    bootstrap_rounds: int = 1000

    def load(self) -> tuple[ReleaseConfig, Salt]:
        config = load_release_config(Path(self.config_file))
        return config, resolve_salt(config)

    def stage_settings(self) -> StageSettings:
        return load_stage_settings(Path(self.stages_file) if self.stages_file else None)

    def workspace(self, storage: ArenaStorage, config: ReleaseConfig) -> ReleaseWorkspace:
        return ReleaseWorkspace(Path(storage.workdir), config.version)
