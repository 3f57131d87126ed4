"""From a file to a published dataset with two commands: `synthgen init` then `synthgen run`, no edits.

    .venv/bin/python bench/bench_init.py                         # the suite's quick-tier tables and image sets
    .venv/bin/python bench/bench_init.py --cases pima,digits     # some of them

For every case of bench/bench_suite.py asked for, the case's files are written as the suite writes them, then in
child processes, as a user would type them: `synthgen init SOURCE [--label COL] -o init.yaml` (the label only
where init does not name it itself: it is the suite's own label, so the question init asks is answered the way a
user would) and `synthgen run init.yaml --no-prefect --quiet`. Beside it, in the same run, the suite's own spec
(source and label only, every column's type left to the run) runs the same way: the baseline, so any difference in
the verdict comes from what init wrote (its column types, drops and codes), not from the day's noise.
Printed and written to bench/out/init/results.json: per case, init's exit code and time, the columns init
typed other than the run would, and both runs' exit codes (0 published, 3 refused, 2 bad input) and times.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
CLI = [sys.executable, "-m", "synthgen.cli"]
QUICK = ["pima", "penguins", "chile", "abalone", "digits", "lfw_faces"]


def _timed(args: list[str], cwd: Path) -> tuple[int, float, str]:
    started = time.perf_counter()
    done = subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True)
    return done.returncode, time.perf_counter() - started, (done.stdout + done.stderr)[-2000:]


def run_case(case, out: Path) -> dict:
    import yaml

    folder = out / case.name
    built = case.build(folder / "data")
    source = built["source"]["path"]
    label = built.get("label")
    init_args = ["init", source, "--name", case.name.replace("_", "-"), "-o", str(folder / "init.yaml"), "--force"]
    code, seconds, text = _timed(init_args, folder)
    asked = code == 2 and "--label" in text
    if asked and label:                      # init asked which column is the label: answer with the suite's
        code, seconds, text = _timed([*init_args, "--label", label], folder)
    row = {"case": case.name, "init_cmd_exit": code, "init_cmd_s": round(seconds, 2), "label_asked": asked}
    if code != 0:
        return row | {"init_output": text}
    drafted = yaml.safe_load((folder / "init.yaml").read_text())
    types = {k: v["type"] for k, v in (drafted.get("columns") or {}).items()}
    row["init_types"] = {t: sum(v == t for v in types.values()) for t in sorted(set(types.values()))}
    row["init_dropped"] = [k for k, v in types.items() if v == "drop"]
    suite_spec = {"modality": case.modality, "name": case.name.replace("_", "-") + "-suite",
                  "source": built["source"], **({"label": label} if label else {})}
    (folder / "suite.yaml").write_text(yaml.safe_dump(suite_spec))
    for which in ("suite", "init"):
        code, seconds, text = _timed(["run", str(folder / f"{which}.yaml"), "--no-prefect", "--quiet", "--force",
                                      "--out", str(folder / "datasets")], folder)
        row[f"{which}_exit"], row[f"{which}_s"] = code, round(seconds, 1)
        if code not in (0, 3):
            row[f"{which}_output"] = text
    return row


def main() -> None:
    from bench_suite import CASES

    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default=",".join(QUICK))
    args = parser.parse_args()
    wanted = args.cases.split(",")
    out = ROOT / "bench" / "out" / "init"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for case in [c for c in CASES if c.name in wanted]:
        row = run_case(case, out)
        rows.append(row)
        print(json.dumps(row), flush=True)
        (out / "results.json").write_text(json.dumps(rows, indent=2))
    print(f"\n{'case':12} {'init':>5} {'asked':>6} {'suite run':>12} {'init run':>12}")
    for r in rows:
        print(f"{r['case']:12} {r['init_cmd_exit']:>5} {str(r['label_asked']):>6} "
              f"{r.get('suite_exit', '-')!s:>4} {r.get('suite_s', 0):>6.0f}s {r.get('init_exit', '-')!s:>4} "
              f"{r.get('init_s', 0):>6.0f}s")


if __name__ == "__main__":
    main()
