"""Ingest + clean throughput and peak RSS on synthetic logs, against FastChat's clean_battle_data.

    .venv/bin/python bench/bench_ingest.py --battles 1000000 [--workers 2] [--skip-fastchat]

Generates the logs once (cached under bench/out/logs-<battles>), runs `arena-release ingest` in a
child process (so its peak RSS, children included, is measured alone), re-runs its finalize step alone
on the staged days to split the time, then FastChat's cleaner on the same files in a separate virtual
environment with PyPI's `fschat`, and prints the figures.

It also measures two floors: orjson parsing every line once, in the same number of processes, and
nothing else (any cleaner that makes a Python object of every line pays at least this); and DuckDB's
read_json reading the same files into typed columns with as many threads (the floor of a columnar
staging, which would leave only unusual lines to a per-line path).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
FASTCHAT_VENV = OUT / "fastchat-venv"
FASTCHAT_PACKAGES = ["pandas", "pytz", "tqdm", "plotly", "requests"]


def timed_child(cmd: list[str], memory_limit_gb: float | None = None,
                may_fail: bool = False) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds and peak RSS in MB of the whole process tree (RSS sampled every 0.1 s),
    stdout. CPU seconds are the fairer comparison on a shared machine, where wall time waits for cores.

    `memory_limit_gb` caps each process's address space (RLIMIT_AS, inherited by its children), so a
    child that would exhaust the machine fails with MemoryError instead; `may_fail` returns its stdout
    (and stderr's tail) rather than exiting when it does."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=None if memory_limit_gb is None else _address_space_cap(memory_limit_gb))
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
        if not may_fail:
            sys.exit(f"failed: {' '.join(cmd)}\n{stderr[-2000:]}")
        stdout += f"\nexit status {proc.returncode}; stderr ends: {stderr[-500:]}"
    return elapsed, _children_cpu() - cpu_before, peak / 2**20, stdout


def _address_space_cap(gigabytes: float):
    cap = int(gigabytes * 2**30)
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


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


def _parse_file(path: str) -> tuple[int, int]:
    """(lines, lines that are not a JSON object): orjson over every line, the floor of any exact cleaner."""
    import orjson

    lines = bad = 0
    with open(path, "rb", buffering=1 << 20) as f:
        for line in f:
            lines += 1
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:
                bad += 1
    return lines, bad


def parse_floor_child(files: list[str], workers: int) -> None:
    """Child process: parse every line of `files` with orjson in `workers` processes; print the line count."""
    from concurrent.futures import ProcessPoolExecutor

    ordered = sorted(files, key=lambda f: -os.path.getsize(f))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        counts = list(pool.map(_parse_file, ordered))
    print(json.dumps({"lines": sum(n for n, _ in counts), "not_json": sum(b for _, b in counts)}))


def columnar_floor_child(files: list[str], workers: int) -> None:
    """Child process: DuckDB's read_json of `files` into typed columns (record type, timestamps, models, IP,
    every state's messages), `workers` threads, nothing else; print what it read."""
    import duckdb

    state = 'STRUCT(conv_id VARCHAR, model_name VARCHAR, "offset" BIGINT, messages VARCHAR[][])'
    columns = {"tstamp": "DOUBLE", "type": "VARCHAR", "model": "VARCHAR", "models": "VARCHAR[]", "ip": "VARCHAR",
               "state": state, "states": f"{state}[]"}
    con = duckdb.connect()
    con.execute(f"SET threads = {workers}")
    rows, messages = con.execute(
        "SELECT count(*), "
        "sum(coalesce(len(state.messages), 0) + coalesce(list_sum([len(s.messages) FOR s IN states]), 0)) "
        "FROM read_json(?, format = 'newline_delimited', columns = ?, ignore_errors = true, "
        "maximum_object_size = 1000000000)",
        [files, columns],
    ).fetchone()
    print(json.dumps({"rows": rows, "messages": int(messages)}))


def finalize_child(out: str) -> None:
    """Child process: what `ingest_logs` does after staging (finalize, then the dedup tags), on the days
    `arena-release ingest` staged under `out`, into a scratch folder."""
    from pipeline import dedup
    from pipeline.cleaning_config import load_cleaning_config
    from pipeline.ingest import finalize

    days = json.loads((Path(out) / "accounting.json").read_text())["days"]
    scratch = Path(out).with_name(Path(out).name + "-finalize-only")
    finalize(Path(out) / "staging", days, scratch)
    dedup.tag_battles(scratch, load_cleaning_config().dedup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-fastchat", action="store_true")
    parser.add_argument("--fastchat-memory-gb", type=float, default=max(1.0, psutil.virtual_memory().total / 2**30 - 3),
                        help="address-space cap per FastChat process (default: this machine's memory less 3 GB)")
    parser.add_argument("--child", choices=["parse-floor", "columnar-floor", "finalize"], help=argparse.SUPPRESS)
    parser.add_argument("child_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "parse-floor":
        return parse_floor_child(args.child_args, args.workers)
    if args.child == "columnar-floor":
        return columnar_floor_child(args.child_args, args.workers)
    if args.child == "finalize":
        return finalize_child(args.child_args[0])
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
    fin_s, fin_cpu, fin_mb, _ = timed_child([sys.executable, __file__, "--child", "finalize", str(out)])
    shutil.rmtree(out.with_name(out.name + "-finalize-only"), ignore_errors=True)
    print(f"  of which finalize + dedup tags (re-run alone on the staged days): {fin_s:.1f}s wall, "
          f"{fin_cpu:.1f} CPU s, "
          f"peak RSS {fin_mb:,.0f} MB; staging every line: ~{ours_s - fin_s:.1f}s wall, "
          f"~{ours_cpu - fin_cpu:.1f} CPU s")

    log_files = sorted(glob.glob(str(logs / "**" / "*-conv.json"), recursive=True))
    floor_s, floor_cpu, _, floor_out = timed_child(
        [sys.executable, __file__, "--child", "parse-floor", "--workers", str(args.workers), *log_files])
    floor = json.loads(floor_out)
    print(f"parse floor (orjson.loads of all {floor['lines']:,} lines, nothing else, {args.workers} processes): "
          f"{floor_s:.1f}s wall, {floor_cpu:.1f} CPU s")
    columnar_s, columnar_cpu, _, columnar_out = timed_child(
        [sys.executable, __file__, "--child", "columnar-floor", "--workers", str(args.workers), *log_files])
    columnar = json.loads(columnar_out)
    print(f"columnar floor (DuckDB read_json of the same files into typed columns, {columnar['rows']:,} rows with "
          f"{columnar['messages']:,} messages, {args.workers} threads, nothing else): {columnar_s:.1f}s wall, "
          f"{columnar_cpu:.1f} CPU s")

    if args.skip_fastchat:
        return
    python = ensure_fastchat_venv()
    files = ",".join(str(p) for p in sorted(logs.rglob("*-conv.json")))
    fc_s, fc_cpu, fc_mb, fc_out = timed_child([str(python), str(ROOT / "bench" / "fastchat_baseline.py"), files,
                                       str(OUT / "fastchat_clean_battle_conv.json")],
                                      memory_limit_gb=args.fastchat_memory_gb, may_fail=True)
    result = next((line for line in fc_out.splitlines() if line.startswith("{")), "{}")
    fastchat = json.loads(result)
    if "battles" not in fastchat:  # FastChat keeps every vote in memory: at scale it runs out
        print(f"FastChat clean_battle_data FAILED after {fc_s:.1f}s wall, {fc_cpu:.1f} CPU s, peak RSS "
              f"{fc_mb:,.0f} MB (each process capped at {args.fastchat_memory_gb} GB of address space): "
              f"{fastchat.get('error') or fc_out.strip()[-600:]}")
        print(f"speedup vs FastChat: not measurable (FastChat did not finish); ours took {ours_s:.1f}s")
        return
    print(f"FastChat clean_battle_data (battles only, no conversations table): {fc_s:.1f}s wall "
          f"({fastchat['seconds']:.1f}s in clean + dump), {fc_cpu:.1f} CPU s, {fastchat['battles']:,} battles, "
          f"peak RSS {fc_mb:,.0f} MB")
    print(f"speedup vs FastChat: {fc_s / ours_s:.1f}x wall (target >= 10x), {fc_cpu / ours_cpu:.1f}x CPU time "
          f"(ours: battles + conversations + feedback + quarantine; FastChat: battles only)")
    print(f"ceiling for any cleaner that parses every line once: FastChat / parse floor = "
          f"{fc_s / floor_s:.1f}x wall, {fc_cpu / floor_cpu:.1f}x CPU time; 10x wall needs ours <= {fc_s / 10:.1f}s")


if __name__ == "__main__":
    main()
