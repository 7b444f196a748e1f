"""A whole release end to end on N synthetic battles: per-stage wall and CPU seconds, rows/s, peak RSS.

    .venv/bin/python bench/bench_e2e.py [--battles 1000000] [--days 10] [--workers 1 2] [--redaction pattern-only]

Logs are generated once into bench/out/logs-<battles> (the same files bench_ingest.py uses; reused when
their synth_settings.yaml matches). Each worker count runs `arena-release run` in a child process, in
its own fresh work directory (cold caches), with PII redaction as the release runs it (`--redaction release`:
redaction/default_settings.yaml, NER and the script recognizers on, every verify check) or pattern-only
(`--redaction pattern-only`: English spaCy NER off, the ground-truth check waived), fastText language, the
offline toxicity model and moderation through the real openai client against the local moderation
server this script starts (tests/moderation_server.py, no latency: the figure is the pipeline's cost).
The child's progress lines mark the stages; the process tree (pool workers included) is sampled every
0.1 s for CPU seconds and RSS. With two worker counts the per-stage speedup is printed too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from moderation_server import ModerationServer  # noqa: E402

from pipeline.synth import SynthSettings, generate  # noqa: E402

API_KEY = "bench-key"
START = dt.date(2024, 6, 1)
STEP = re.compile(r"\[\s*\d+/\d+\] (?P<label>.+?) \.\.\.")
TABLES = ("battles", "conversations")


class CountingModerationServer(ModerationServer):
    """Counts requests and texts instead of keeping every input: a 1M-battle release sends ~10^5 texts."""

    def __init__(self) -> None:
        super().__init__(api_key=API_KEY)
        self.total_requests = 0
        self.total_texts = 0

    def _record(self, inputs: list[str]):
        answer = super()._record(inputs)
        with self._lock:
            self.total_requests += 1
            self.total_texts += len(inputs)
            self.requests.clear()
        return answer


def ensure_logs(battles: int, days: int, workers: int) -> Path:
    """bench/out/logs-<battles>, generated once (seed 1, like bench_ingest.py); a mismatch is an error."""
    settings = SynthSettings(days=days, battles_per_day=battles // days, seed=1, start_date=START)
    logs = OUT / f"logs-{battles}"
    recorded = logs / "synth_settings.yaml"
    if recorded.exists():
        found = yaml.safe_load(recorded.read_text())
        if (found["days"], found["battles_per_day"], found["seed"], str(found["start_date"])) != (
                days, battles // days, 1, START.isoformat()):
            sys.exit(f"{logs} holds other logs ({found['days']} days x {found['battles_per_day']}, "
                     f"seed {found['seed']}): move it away or pass matching --battles/--days")
        return logs
    started = time.perf_counter()
    generate(logs, settings, workers=workers)
    print(f"synth: {battles:,} battles in {time.perf_counter() - started:.1f}s into {logs}")
    return logs


def write_inputs(run_dir: Path, logs: Path, days: int, workers: int, server: ModerationServer,
                 redaction_mode: str) -> tuple[Path, Path]:
    """The example release config over the generated days (all three stages required, published to
    `run_dir/work/hub`, verified against the logs' canaries and planted PII) and stage settings:
    the redaction mode, the local moderation server, `workers`."""
    config = yaml.safe_load((ROOT / "release_configs" / "example.yaml").read_text())
    config["verify"] |= {"canary_file": str(logs / "canaries.txt"),
                         "pii_ground_truth": str(logs / "pii_ground_truth.jsonl")}
    config["card"]["pii_evaluation"] = str(ROOT / "release_configs" / config["card"]["pii_evaluation"])
    redaction = yaml.safe_load((ROOT / "redaction" / "default_settings.yaml").read_text())
    if redaction_mode == "pattern-only":
        # English NER off leaves planted names, which the ground-truth check would rightly refuse: that one
        # check is waived, by name and with why, and every other one kept.
        redaction["ner"]["enabled"] = False
        config["verify"] |= {"pii_ground_truth": None,
                             "waivers": {"pii": "bench: pattern-only redaction (NER off) leaves planted names"}}
        config["card"]["pii_evaluation"] = None  # measured with NER on: not this bench's redactor
    config["version"] = "bench-e2e"
    config["log_window"] = {"start": START.isoformat(), "end": (START + dt.timedelta(days=days - 1)).isoformat()}
    config["required_stages"] = ["pii", "moderation", "toxicity"]
    config["targets"] = [{**config["targets"][0], "path": "hub"}]
    stages = yaml.safe_load((ROOT / "pipeline" / "data" / "stages.yaml").read_text())
    stages["moderation"]["base_url"] = server.base_url
    stages["toxicity"]["workers"] = workers  # spreads large batches of new texts over processes
    stages["redaction_file"] = "redaction.yaml"
    stages["workers"] = workers
    run_dir.mkdir(parents=True)
    (run_dir / "release.yaml").write_text(yaml.safe_dump(config))
    (run_dir / "redaction.yaml").write_text(yaml.safe_dump(redaction))
    (run_dir / "stages.yaml").write_text(yaml.safe_dump(stages))
    return run_dir / "release.yaml", run_dir / "stages.yaml"


@dataclass
class Stage:
    label: str
    started: float
    cpu_at_start: float
    wall: float = 0.0
    cpu: float = 0.0
    peak_rss: int = 0


@dataclass
class RunFigures:
    workers: int
    wall: float = 0.0
    cpu: float = 0.0
    peak_rss: int = 0
    stages: list[Stage] = field(default_factory=list)


def tree_usage(root: psutil.Process) -> tuple[float, int]:
    """CPU seconds of the whole tree (finished children included once reaped) and its current RSS."""
    cpu, rss = 0.0, 0
    for index, process in enumerate([root, *root.children(recursive=True)]):
        try:
            times = process.cpu_times()
            cpu += times.user + times.system
            if index == 0:
                cpu += times.children_user + times.children_system
            rss += process.memory_info().rss
        except psutil.Error:
            pass
    return cpu, rss


def run_release(logs: Path, run_dir: Path, config: Path, stages: Path, workers: int) -> RunFigures:
    cmd = [str(ROOT / ".venv" / "bin" / "arena-release"), "run", "--config", str(config), "--logs", str(logs),
           "--workdir", str(run_dir / "work"), "--stages", str(stages), "--workers", str(workers)]
    env = {**os.environ, "OPENAI_API_KEY": API_KEY, "ARENA_JUDGE_KEY": "bench-judge-key-0123456789abcdef"}
    console: list[bytes] = []
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    reader = threading.Thread(target=lambda: console.extend(iter(lambda: proc.stdout.read1(1 << 16), b"")),
                              daemon=True)
    reader.start()
    root, figures, seen = psutil.Process(proc.pid), RunFigures(workers), 0
    while proc.poll() is None:
        cpu, rss = tree_usage(root)
        now = time.perf_counter()
        figures.peak_rss = max(figures.peak_rss, rss)
        text = b"".join(console).decode(errors="replace")
        for match in list(STEP.finditer(text))[seen:]:
            _close(figures.stages, now, cpu)
            figures.stages.append(Stage(match["label"], now, cpu))
            seen += 1
        if figures.stages:
            figures.stages[-1].peak_rss = max(figures.stages[-1].peak_rss, rss)
        time.sleep(0.1)
    now = time.perf_counter()
    reader.join(timeout=10)
    figures.wall, figures.cpu = now - started, _children_cpu() - cpu_before  # the whole tree, once reaped
    _close(figures.stages, now, figures.cpu)
    output = b"".join(console).decode(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"release failed (exit {proc.returncode}):\n{output[-4000:]}")
    print(output.rstrip())
    return figures


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _close(stages: list[Stage], now: float, cpu: float) -> None:
    if stages and not stages[-1].wall:
        stages[-1].wall, stages[-1].cpu = now - stages[-1].started, cpu - stages[-1].cpu_at_start


def stage_rows(work: Path, label: str) -> int | None:
    """Rows a stage handled: log lines for staging and cleaning, battles + conversations for a release
    stage that writes them, battles rated for the leaderboard; None where the stage writes no table."""
    if label.startswith("staged_day "):
        stats = work / "staging" / f"day={label.split()[1]}" / "stats.json"
        return sum(f["lines"] for f in json.loads(stats.read_text())["files"]) if stats.exists() else None
    if label == "cleaned_tables":
        return json.loads((work / "cleaned" / "accounting.json").read_text())["lines_read"]
    if label == "leaderboard":
        return pq.ParquetFile(work / "cleaned" / "battles.parquet").metadata.num_rows
    paths = [work / "releases" / "bench-e2e" / label / f"{table}.parquet" for table in TABLES]
    found = [pq.ParquetFile(p).metadata.num_rows for p in paths if p.exists()]
    return sum(found) if found else None


def report(runs: list[RunFigures], run_dirs: dict[int, Path], battles: int, server_texts: dict[int, int]) -> None:
    for figures in runs:
        work = run_dirs[figures.workers] / "work"
        print(f"\n=== {battles:,} battles, {figures.workers} worker(s): {figures.wall:,.1f}s wall, "
              f"{figures.cpu:,.1f}s CPU (process tree), peak RSS {figures.peak_rss / 2**30:.2f} GiB, "
              f"{server_texts[figures.workers]:,} texts sent to moderation")
        print(f"{'stage':<28}{'wall s':>10}{'CPU s':>10}{'rows':>12}{'rows/s':>12}{'peak RSS MiB':>14}")
        for stage in figures.stages:
            rows = stage_rows(work, stage.label)
            rate = f"{rows / stage.wall:,.0f}" if rows is not None and stage.wall > 0 else "-"
            print(f"{stage.label:<28}{stage.wall:>10.1f}{stage.cpu:>10.1f}"
                  f"{(f'{rows:,}' if rows is not None else '-'):>12}{rate:>12}{stage.peak_rss / 2**20:>14,.0f}")
    if len(runs) == 2:
        one, two = runs
        print(f"\n=== speedup {one.workers} -> {two.workers} workers (wall time ratio; staging days summed)")
        for label in dict.fromkeys(_merged(s.label) for s in one.stages):
            before = sum(s.wall for s in one.stages if _merged(s.label) == label)
            after = sum(s.wall for s in two.stages if _merged(s.label) == label)
            print(f"{label:<28}{before:>10.1f}{after:>10.1f}{before / after if after else float('nan'):>9.2f}x")
        print(f"{'whole release':<28}{one.wall:>10.1f}{two.wall:>10.1f}{one.wall / two.wall:>9.2f}x")


def _merged(label: str) -> str:
    return "staged_day (all days)" if label.startswith("staged_day ") else label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="one release per worker count (two: the speedup is printed)")
    parser.add_argument("--redaction", choices=("release", "pattern-only"), default="release",
                        help="the release's own redaction settings, or English NER off")
    parser.add_argument("--keep", action="store_true", help="keep the work directories under bench/out")
    args = parser.parse_args()
    logs = ensure_logs(args.battles, args.days, max(args.workers))
    runs, run_dirs, server_texts = [], {}, {}
    for workers in args.workers:
        run_dir = OUT / f"e2e-{args.battles}-w{workers}-{args.redaction}"
        shutil.rmtree(run_dir, ignore_errors=True)  # cold caches: every stage does its full work
        with CountingModerationServer() as server:
            config, stages = write_inputs(run_dir, logs, args.days, workers, server, args.redaction)
            print(f"\n--- release of {args.battles:,} battles with {workers} worker(s), {args.redaction} redaction, "
                  f"in {run_dir}", flush=True)
            runs.append(run_release(logs, run_dir, config, stages, workers))
            server_texts[workers] = server.total_texts
        run_dirs[workers] = run_dir
    report(runs, run_dirs, args.battles, server_texts)
    if not args.keep:
        for run_dir in run_dirs.values():
            shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
