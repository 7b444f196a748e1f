"""Ingest + clean throughput and peak RSS on synthetic logs, against FastChat's clean_battle_data.

    .venv/bin/python bench/bench_ingest.py --battles 1000000 [--workers 2] [--skip-fastchat]

Generates the logs once (cached under bench/out/logs-<battles>), runs `arena-release ingest` in a
child process (so its peak RSS, children included, is measured alone), then FastChat's cleaner on
the same files in a separate virtual environment with PyPI's `fschat`, and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
FASTCHAT_VENV = OUT / "fastchat-venv"
FASTCHAT_PACKAGES = ["pandas", "pytz", "tqdm", "plotly", "requests"]


def timed_child(cmd: list[str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds and peak RSS in MB of the whole process tree (RSS sampled every 0.1 s),
    stdout. CPU seconds are the fairer comparison on a shared machine, where wall time waits for cores."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, root = 0, psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{stderr[-2000:]}")
    return elapsed, _children_cpu() - cpu_before, peak / 2**20, stdout


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ensure_logs(battles: int, days: int) -> Path:
    logs = OUT / f"logs-{battles}"
    if not (logs / "synth_settings.yaml").exists():
        per_day = battles // days
        cmd = [str(ROOT / ".venv/bin/arena-release"), "synth", "--out", str(logs), "--days", str(days),
               "--battles-per-day", str(per_day), "--seed", "1"]
        elapsed, _, _, _ = timed_child(cmd)
        print(f"synth: {battles:,} battles in {elapsed:.1f}s ({battles / elapsed:,.0f} battles/s)")
    return logs


def ensure_fastchat_venv() -> Path:
    python = FASTCHAT_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(FASTCHAT_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "--no-deps", "fschat==0.2.36"], check=True)
        subprocess.run([*pip, *FASTCHAT_PACKAGES], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-fastchat", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    logs = ensure_logs(args.battles, args.days)
    size_gb = sum(p.stat().st_size for p in logs.rglob("*-conv.json*")) / 1e9

    out = OUT / f"ingested-{args.battles}"
    cmd = [str(ROOT / ".venv/bin/arena-release"), "ingest", str(logs), "--out", str(out),
           "--workers", str(args.workers)]
    ours_s, ours_cpu, ours_mb, stdout = timed_child(cmd)
    accounting = json.loads((out / "accounting.json").read_text())
    kept = accounting["kept"]["battles"]
    print(stdout)
    print(f"logs: {size_gb:.2f} GB, {accounting['lines_read']:,} lines, {args.workers} workers")
    print(f"arena-release ingest: {ours_s:.1f}s, {accounting['lines_read'] / ours_s:,.0f} lines/s, "
          f"{kept / ours_s:,.0f} kept battles/s, {ours_cpu:.1f} CPU s, peak RSS {ours_mb:,.0f} MB "
          f"(targets: 1M battles < 300s, RSS < 2048 MB)")

    if args.skip_fastchat:
        return
    python = ensure_fastchat_venv()
    files = ",".join(str(p) for p in sorted(logs.rglob("*-conv.json")))
    fc_s, fc_cpu, fc_mb, fc_out = timed_child([str(python), str(ROOT / "bench" / "fastchat_baseline.py"), files,
                                       str(OUT / "fastchat_clean_battle_conv.json")])
    fastchat = json.loads(fc_out.strip().splitlines()[-1])
    print(f"FastChat clean_battle_data (battles only, no conversations table): {fc_s:.1f}s wall "
          f"({fastchat['seconds']:.1f}s in clean + dump), {fc_cpu:.1f} CPU s, {fastchat['battles']:,} battles, "
          f"peak RSS {fc_mb:,.0f} MB")
    print(f"speedup vs FastChat: {fc_s / ours_s:.1f}x wall (target >= 10x), {fc_cpu / ours_cpu:.1f}x CPU time")


if __name__ == "__main__":
    main()
