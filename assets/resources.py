"""Deployment settings as Dagster resources: local defaults, production values from the environment."""


import contextlib
import enum
import os
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

import dagster as dg

from pipeline.cleaning_config import CleaningConfig, load_cleaning_config
from pipeline.ingest import LOG_NAME, Discovery, LogFile, discover_logs, judge_key_for
from pipeline.preflight import PreflightReport, preflight
from pipeline.release import ReleaseWorkspace
from pipeline.release_config import (
    LocalTarget,
    ReleaseConfig,
    Salt,
    config_hash,
    load_release_config,
    require_shared_judge_key,
    resolve_salt,
)
from pipeline.stage_settings import StageSettings, load_stage_settings
from pipeline.storage import StorageError, Store, StoredFile, is_uri, synced
from pipeline.workdir import workdir_lock

DEFAULT_WORKDIR = Path(os.environ.get("ARENA_WORKDIR", ".workdir")).resolve()


class ArenaStorage(dg.ConfigurableResource):
    """Where raw logs are read and pipeline tables are written.

    On one machine everything lives in `workdir`. On a cluster (one pod per step, docs/deploy-kubernetes.md)
    set `store` to an object-store URI such as `s3://bucket/arena`: `workdir` is then each pod's scratch,
    and every asset pulls the tables it reads from the store and pushes the ones it writes. `logs_dir` may
    be a URI as well; a day's log files are then copied to the scratch before staging.
    """

    logs_dir: str = os.environ.get("ARENA_LOGS_DIR", str(DEFAULT_WORKDIR / "logs"))
    workdir: str = str(DEFAULT_WORKDIR)
    store: str | None = os.environ.get("ARENA_STORE") or None
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

    def durable(self) -> Store | None:
        """The remote store, or None when the workdir itself is the durable location."""
        if not self.store:
            return None
        if not is_uri(self.store):
            raise StorageError(f"store {self.store!r} is not an object-store URI: for local storage set the "
                               "workdir (ARENA_WORKDIR) and leave the store unset")
        return Store(self.store)

    @contextlib.contextmanager
    def synced(self, reads: Iterable[str] = (), writes: Iterable[str] = ()) -> Iterator[Path]:
        """The workdir, with `reads` (workdir-relative prefixes) pulled before and `writes` pushed after,
        under the workdir's lock: shared by the staging of log days, exclusive for every other step."""
        writes = list(writes)
        shared = all(w.startswith("staging/day=") for w in writes)
        with (workdir_lock(Path(self.workdir), shared=shared),
              synced(self.durable(), Path(self.workdir), reads, writes) as workdir):
            yield workdir

    def is_staged(self, day: str) -> bool:
        marker = f"staging/day={day}/stats.json"
        store = self.durable()
        return store.exists(marker) if store else (Path(self.workdir) / marker).is_file()

    def judge_key(self, config: CleaningConfig) -> bytes:
        """The judge HMAC key. Pods share no disk, so with a remote store it must come from the environment
        (a Kubernetes Secret); a per-pod random key would give each day different judge hashes."""
        if self.store and not os.environ.get(config.judge_key_env):
            raise StorageError(f"${config.judge_key_env} is not set: with a remote store (ARENA_STORE) the judge "
                               "key must come from the environment, the same on every pod")
        return judge_key_for(config, Path(self.workdir))

    def log_files(self, day: str) -> list[LogFile]:
        """The day's log files, local: with a remote logs location they are copied into `<workdir>/logs/`
        under their relative paths, so staged rows name the same sources."""
        if not is_uri(self.logs_dir):
            return [f for f in discover_logs(self.logs).files if f.day == day]
        remote, scratch = Store(self.logs_dir), Path(self.workdir) / "logs"
        return [LogFile(path=remote.pull_file(stored.path, scratch), source=stored.path, day=file_day)
                for file_day, stored in self._remote_logs(remote) if file_day == day]

    def discovery(self) -> Discovery | None:
        """Every entry under a local logs directory, read or skipped with why (None for a remote one)."""
        return None if is_uri(self.logs_dir) else discover_logs(self.logs)

    def log_fingerprints(self) -> dict[str, str]:
        """Per day, the names, sizes and modification times of its log files: a change re-stages the day."""
        if is_uri(self.logs_dir):
            listed = [(day, f.path, f.size, f.mtime_ns) for day, f in self._remote_logs(Store(self.logs_dir))]
        else:
            listed = [(f.day, f.source, stat.st_size, stat.st_mtime_ns)
                      for f in discover_logs(self.logs).files for stat in [f.path.stat()]]
        fingerprints: dict[str, str] = {}
        for day, source, size, mtime in listed:
            fingerprints[day] = fingerprints.get(day, "") + f"{source}:{size}:{mtime};"
        return fingerprints

    @staticmethod
    def _remote_logs(remote: Store) -> list[tuple[str, StoredFile]]:
        """(day, file) for each stored file named like a daily log."""
        matches = ((LOG_NAME.match(PurePosixPath(f.path).name), f) for f in remote.list_files())
        return [(match["day"], f) for match, f in matches if match]


RELEASE_CONFIGS_DIR = Path(os.environ.get("ARENA_RELEASE_CONFIGS_DIR", "release_configs"))

# The configs under release_configs/ by name: the launchpad offers them as a choice and refuses any other
# ("none" when the directory holds none: then set `config_file`).
ReleaseConfigName = enum.Enum(  # type: ignore[misc]
    "ReleaseConfigName",
    {path.stem: path.stem for path in sorted(RELEASE_CONFIGS_DIR.glob("*.yaml"))} or {"none": "none"},
)


class ReleaseSettings(dg.ConfigurableResource):
    """Which release to build: a config of release_configs/ by name (or any `config_file`, which wins),
    plus the model stages' deployment settings."""

    config: ReleaseConfigName = next(iter(ReleaseConfigName))  # type: ignore[valid-type]
    config_file: str | None = os.environ.get("ARENA_RELEASE_CONFIG")
    # The version is given at launch, so a release needs no edit of the file (unset: the config's default,
    # else the window's last day).
    version: str | None = os.environ.get("ARENA_RELEASE_VERSION") or None
    stages_file: str | None = os.environ.get("ARENA_STAGES_FILE")
    bootstrap_rounds: int = 1000

    @property
    def config_path(self) -> Path:
        return Path(self.config_file) if self.config_file else RELEASE_CONFIGS_DIR / f"{self.config.value}.yaml"

    def load(self) -> tuple[ReleaseConfig, Salt]:
        config = load_release_config(self.config_path, self.version)
        return config, resolve_salt(config)

    def preflight(self, storage: ArenaStorage) -> tuple[ReleaseConfig, PreflightReport]:
        """The config, loaded, and what `pipeline.preflight` found (nothing read but settings and keys)."""
        config = load_release_config(self.config_path, self.version)
        return config, preflight(config, self.stage_settings(), storage.cleaning(), Path(storage.workdir))

    def run_tags(self, storage: ArenaStorage, config: ReleaseConfig) -> dict[str, str]:
        """What tells one release run from another in the Runs list."""
        from huggingface_hub import constants

        targets = [f"local:{t.directory(Path(storage.workdir)) / t.repo_id}" if isinstance(t, LocalTarget)
                   else f"hub:{t.endpoint or constants.ENDPOINT}/datasets/{t.repo_id}" for t in config.targets]
        return {"arena/release": config.version, "arena/config": self.config_path.stem,
                "arena/config_sha256": config_hash(config)[:16], "arena/target": ", ".join(targets)}

    def stage_settings(self) -> StageSettings:
        return load_stage_settings(Path(self.stages_file) if self.stages_file else None)

    def workspace(self, storage: ArenaStorage, config: ReleaseConfig) -> ReleaseWorkspace:
        return ReleaseWorkspace(Path(storage.workdir), config.version)

    @contextlib.contextmanager
    def stage(self, storage: ArenaStorage, reads: Iterable[str] = (), writes: Iterable[str] = (),
              ) -> Iterator[tuple[ReleaseConfig, Salt, ReleaseWorkspace]]:
        """One release stage: config, salt and workspace, with the release-relative `reads` (stage names,
        or workdir-level prefixes such as `cleaned` and `cache` given with a leading '/') pulled from the
        store before and `writes` pushed after."""
        config, salt = self.load()
        require_shared_judge_key(config, storage.cleaning().judge_key_env)
        ws = self.workspace(storage, config)

        def prefixes(names: Iterable[str]) -> list[str]:
            return [n[1:] if n.startswith("/") else f"releases/{config.version}/{n}" for n in names]

        with storage.synced(prefixes(reads), prefixes(writes)):
            yield config, salt, ws


def release_executor() -> dg.ExecutorDefinition:
    """How the release job's steps run: in one process (the default: the stages run in a chain and would
    otherwise each re-import the model libraries), or with `ARENA_EXECUTOR=k8s` one Kubernetes pod per
    step through dagster-k8s (which needs a remote `store`: pods share no disk)."""
    choice = os.environ.get("ARENA_EXECUTOR", "in_process")
    if choice == "in_process":
        return dg.in_process_executor
    if choice == "multiprocess":
        return dg.multiprocess_executor
    if choice == "k8s":
        from dagster_k8s import k8s_job_executor  # the optional `k8s` extra

        return k8s_job_executor
    raise ValueError(f"ARENA_EXECUTOR={choice!r}: expected in_process, multiprocess or k8s")
