"""One writer per work directory (issue 17): a second run is refused with one clear line, staging of log days
may share it, and a killed run's temporaries are removed by the next one. Every user-facing failure of a bad
path or file is one line with exit 2."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.errors import WorkdirLocked
from pipeline.workdir import LOCK_NAME, workdir_lock

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "release_configs" / "example.yaml"


@pytest.fixture
def held_elsewhere(tmp_path) -> Iterator[callable]:
    """Hold a work directory's lock from another process, as a concurrent run would."""
    holders: list[subprocess.Popen] = []

    def hold(workdir: Path, shared: bool = False) -> None:
        code = textwrap.dedent(f"""
            import sys, time
            from pipeline.workdir import workdir_lock
            with workdir_lock({str(workdir)!r}, shared={shared}):
                print("held", flush=True)
                sys.stdin.read()
        """)
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "held"
        holders.append(proc)

    yield hold
    for proc in holders:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_a_second_run_is_refused_with_one_line_naming_the_first(tmp_path, held_elsewhere, capsys):
    workdir = tmp_path / "work"
    held_elsewhere(workdir)
    with pytest.raises(WorkdirLocked, match=r"is in use \(pid \d+ on "):
        with workdir_lock(workdir):
            pass
    assert main(["run", "--config", str(EXAMPLE), "--workdir", str(workdir)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is in use" in err and "another work directory" in err
    assert not (workdir / "dagster_home").exists()  # refused before touching anything


def test_staging_shares_the_lock_but_a_release_step_does_not(tmp_path, held_elsewhere):
    workdir = tmp_path / "work"
    held_elsewhere(workdir, shared=True)
    with workdir_lock(workdir, shared=True):
        pass
    with pytest.raises(WorkdirLocked):
        with workdir_lock(workdir):
            pass


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    with workdir_lock(tmp_path), workdir_lock(tmp_path), workdir_lock(tmp_path, shared=True):
        pass
    with workdir_lock(tmp_path):  # released when the outermost block ends
        pass


def test_a_killed_runs_temporaries_are_removed_at_the_next_start(tmp_path):
    kept = [tmp_path / "staging" / "day=2024-06-01" / "stats.json", tmp_path / "cleaned" / "battles.parquet",
            tmp_path / "logs" / "server0" / "notes.tmp"]
    leftovers = [tmp_path / "staging" / ".day=2024-06-01.x1y2" / "a.battles.parquet",
                 tmp_path / "staging" / "fingerprints.json.tmp", tmp_path / "cleaned" / "battles.parquet.tmp",
                 tmp_path / "releases" / "v1" / "share" / "battles.parquet.tmp",
                 tmp_path / "cleaned" / ".duckdb_tmp" / "spill.bin"]
    for path in kept + leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    with workdir_lock(tmp_path):
        assert all(p.exists() for p in kept)
        assert not any(p.exists() for p in leftovers)
        assert not (tmp_path / "staging" / ".day=2024-06-01.x1y2").exists()
    assert (tmp_path / LOCK_NAME).exists()


@pytest.mark.parametrize(("option", "content", "message"), [
    ("--config", None, "is a directory, not a YAML file"),
    ("--config", b"version: \xff\n", "not UTF-8 text"),
    ("--cleaning", None, "is a directory, not a YAML file"),
    ("--cleaning", b"max_turns: \xfe\n", "not UTF-8 text"),
    ("--stages", b"moderation: {}\nmoderation: {}\n", "duplicate key 'moderation'"),
])
def test_bad_config_paths_are_one_line_with_exit_2(tmp_path, capsys, option, content, message):
    path = tmp_path / "given"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    config = path if option == "--config" else EXAMPLE
    args = ["run", "--config", str(config), "--workdir", str(tmp_path / "work"), "--logs", str(tmp_path)]
    if option != "--config":
        args += [option, str(path)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_snapshot_a_killed_publish_left_is_removed_by_the_next_publish(tmp_path):
    from pipeline.publish import LocalTarget, publish_release
    from tests.test_publish import REPO, stage

    target = LocalTarget(tmp_path / "hub")
    publish_release(stage(tmp_path / "staged" / "v1", "v1"), REPO, "v1", target, private=False)
    leftover = target.store(REPO) / "tmp-0123abcd"
    (leftover / "data").mkdir(parents=True)
    (leftover / "data" / "half.parquet").write_bytes(b"half")
    publish_release(stage(tmp_path / "staged" / "v2", "v2"), REPO, "v2", target, private=False)
    assert not leftover.exists()
    assert target.repo_path(REPO).resolve() == target.repo_path(REPO, "v2").resolve()
