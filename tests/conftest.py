"""Shared fixtures: one small synthetic log set and its ingest, built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.cleaning_config import load_cleaning_config
from pipeline.ingest import ingest_logs
from pipeline.synth import SynthSettings, generate

os.environ.setdefault("ARENA_JUDGE_KEY", "test-judge-key-0123456789abcdef")

SYNTH = SynthSettings(days=2, battles_per_day=400, seed=7, servers=3)


@pytest.fixture(scope="session")
def synth_logs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("logs")
    generate(out, SYNTH, workers=1)
    return out


@pytest.fixture(scope="session")
def ingested(synth_logs, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("ingested")
    accounting = ingest_logs(synth_logs, out, load_cleaning_config(), workers=2)
    return out, accounting
