"""FastChat's own `clean_battle_data.py` (PyPI `fschat`), run on our logs for comparison.

Run in a separate environment that has `fschat --no-deps`, pandas, pytz, tqdm, plotly, requests
(bench_ingest.py builds it). Two unavoidable adaptations, both in FastChat's favour:
- `read_file` skips lines `json.loads` rejects and decodes invalid UTF-8 with replacement
  (FastChat's crashes on the first malformed line);
- `detect_language` returns "unknown" (FastChat calls polyglot, which is slower than nothing).
Prints one JSON line: {"seconds": ..., "battles": ...}, timing the clean plus the conv_release dump.
"""

import json
import sys
import time

import fastchat.serve.monitor.clean_battle_data as fc


def tolerant_read_file(filename):
    data = []
    for line in open(filename, errors="replace"):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("type") in fc.VOTES:
            data.append(row)
    return data


fc.read_file = tolerant_read_file
fc.detect_language = lambda text: "unknown"

if __name__ == "__main__":
    files, out = sys.argv[1].split(","), sys.argv[2]
    started = time.perf_counter()
    try:
        battles = fc.clean_battle_data(files, [], [])
    except Exception as err:  # FastChat has no error handling; report what stopped it
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        sys.exit(1)
    with open(out, "w") as fout:
        json.dump([b for b in battles if b["anony"]], fout, indent=2, ensure_ascii=False)
    print(json.dumps({"seconds": time.perf_counter() - started, "battles": len(battles)}))
