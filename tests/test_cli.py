"""The console script as a user meets it: clear one-line errors, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.cli import main
from tests.logbuilder import battle, write_log


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("args", "message"), [
    (["ingest", "/nonexistent/logs", "--out", "OUT"], "logs directory not found: /nonexistent/logs"),
    (["ingest", "EMPTY", "--out", "OUT"], "no log files"),
    (["ingest", "LOGS", "--out", "OUT", "--days", "2031-01-01"], "no log files for day(s) 2031-01-01"),
    (["ingest", "LOGS", "--out", "OUT", "--cleaning", "BADCFG"], "unknown_key: Extra inputs are not permitted"),
    (["ingest", "LOGS", "--out", "OUT", "--cleaning", "/nonexistent.yaml"], "file not found"),
    (["synth", "--out", "OUT", "--days", "0"], "must be at least 1"),
])
def test_user_errors_are_one_line(tmp_path, capsys, args, message):
    (tmp_path / "EMPTY").mkdir()
    write_log(tmp_path / "LOGS", [battle()])
    (tmp_path / "BADCFG").write_text("unknown_key: 1\n")
    resolved = [str(tmp_path / a) if a in ("OUT", "EMPTY", "LOGS", "BADCFG") else a for a in args]
    assert main(resolved) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_synth_then_ingest_through_the_console(tmp_path):
    synth = cli("synth", "--out", str(tmp_path / "logs"), "--days", "1", "--battles-per-day", "50")
    assert synth.returncode == 0, synth.stderr
    assert "wrote 50 battles" in synth.stdout
    ingest = cli("ingest", str(tmp_path / "logs"), "--out", str(tmp_path / "out"), "--workers", "1")
    assert ingest.returncode == 0, ingest.stderr
    assert "accounted (reconciled)" in ingest.stdout
    assert (tmp_path / "out" / "battles.parquet").exists()
