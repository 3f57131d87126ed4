"""Peers: synthgen beside the best open tool a user could pick instead, on the suite's tables, in one run.

    .venv/bin/python bench/bench_peers.py --tier quick            # pima, penguins, chile, abalone
    .venv/bin/python bench/bench_peers.py --tier full --resume    # + medexp, car, diamonds, budgetfood
    .venv/bin/python bench/bench_peers.py --tier final            # the newest held-back set: once, at the end

For every tabular case of bench/bench_suite.py (same files, same unseen split):

1. **synthgen**: the real CLI at its defaults (`model.name: auto`: CTGAN and argn trained as candidates, the
   better one published), in a child process: exit code, wall time, peak RSS (the child's max RSS), and from
   the card each candidate's fit time and selection-split point, the chosen one and the gates.
2. **MOSTLY AI SDK** (TabularARGN; local mode, its defaults) in its own virtual environment, which this
   bench creates (bench/out/venvs/mostlyai; CPU torch, then `mostlyai[local]`, then the torchvision /
   torchaudio it may pull uninstalled: their CUDA builds break against CPU torch and the tabular engine
   does not need them), trained on the same source file synthgen was handed and sampled to its row count
   (bench/peers/mostlyai_run.py): fit time, wall time, peak RSS. Both at 2 threads (synthgen's default
   `threads`; the SDK through OMP / MKL / OPENBLAS, its training runs in a child process).
3. **An independent judge** in a third environment (bench/out/venvs/judge: SDMetrics and scikit-learn, no
   synthgen import; bench/peers/judge.py) scores the real training rows, synthgen's set and the SDK's set
   against the unseen split neither generator saw: SDMetrics quality, a HistGradientBoosting detector
   (5-fold, equal real and synthetic rows, at most 10,000 each; the real rows give the floor) and
   train-on-synthetic / test-on-unseen AUROC and macro F1 (train-on-real beside it).

The targets of issue 24 are checked per case: detection <= SDK + 0.03, quality >= SDK - 0.01, TSTR AUROC >=
SDK - 0.01, argn's fit <= the SDK's fit, synthgen's whole run <= 2x the SDK's whole run.
Results: bench/out/peers[_final]/results.json, a table printed. Peers are never synthgen dependencies.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import bench_suite  # noqa: E402  (the suite's cases, data files and first-try run)

HERE = Path(__file__).resolve().parent / "peers"
THREADS = 2
VENVS = {   # name -> pip steps, run in order in a fresh `python3.11 -m venv`
    "mostlyai": [["install", "torch==2.13.0"], ["install", "mostlyai[local]==6.2.0"],
                 ["uninstall", "-y", "torchvision", "torchaudio"]],
    "judge": [["install", "sdmetrics==0.32.0", "scikit-learn", "pyarrow"]],
}
# issue 24's targets against the peer
DETECTION_MARGIN, QUALITY_MARGIN, TSTR_MARGIN, RUN_RATIO = 0.03, 0.01, 0.01, 2.0


def venv(name: str, root: Path) -> Path:
    """The peer's own environment, created on first use; returns its python."""
    folder = root / name
    python = folder / "bin" / "python"
    done = folder / ".bench-ready"
    if done.exists():
        return python
    shutil.rmtree(folder, ignore_errors=True)
    print(f"creating the {name} environment in {folder} (once)", flush=True)
    subprocess.run([sys.executable if sys.version_info[:2] == (3, 11) else "python3.11", "-m", "venv", str(folder)],
                   check=True)
    for step in VENVS[name]:
        subprocess.run([str(python), "-m", "pip", "-q", *step], check=True)
    done.write_text("ok\n")
    return python


def _threads_env() -> dict:
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[key] = str(THREADS)
    env["TQDM_DISABLE"] = "1"
    return env


def _timed(cmd: list[str], log: Path, env: dict | None = None, stdin: str | None = None) -> dict:
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.PIPE if stdin is not None else None, text=True)
        if stdin is not None:
            proc.stdin.write(stdin)
            proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)
    return {"exit_code": os.waitstatus_to_exitcode(status), "seconds": time.perf_counter() - start,
            "peak_rss_mb": usage.ru_maxrss / 1024}


def mostlyai(python: Path, source: str, folder: Path, rows: int) -> dict:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    run = _timed([str(python), str(HERE / "mostlyai_run.py"), source, str(folder), str(rows)], folder.parent / "mostlyai.log",
                 env=_threads_env())
    timing = folder / "timing.json"
    if run["exit_code"] or not timing.exists():
        return {**run, "error": (folder.parent / "mostlyai.log").read_text(errors="replace").strip().splitlines()[-6:]}
    return {**run, **json.loads(timing.read_text()), "synthetic": str(folder / "synthetic.parquet")}


def judge(python: Path, job: dict, log: Path) -> dict:
    run = _timed([str(python), str(HERE / "judge.py")], log, env=_threads_env(), stdin=json.dumps(job))
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith("RESULT ")]
    if run["exit_code"] or not lines:
        return {"error": log.read_text(errors="replace").strip().splitlines()[-8:]}
    return {**json.loads(lines[-1][7:]), "judge_s": run["seconds"]}


def _synthgen_card(runs: Path, name: str) -> dict:
    folder = bench_suite._published_folder(runs, name.replace("_", "-"))
    if folder is None:
        return {}
    card = json.loads((folder / "card.json").read_text())
    return {"folder": str(folder), "synthetic": str(folder / "data.parquet"), "published": card["verdict"]["passed"],
            "chosen": card["model"]["name"], "chosen_by": card.get("chosen_by"),
            "failed": [c["metric"] for c in card["verdict"]["checks"] if not c["passed"]],
            "gates": {c["metric"]: c.get("value") for c in card["verdict"]["checks"]},
            "candidates": [{"name": c["name"], "train_s": c["train_s"], "judged": c.get("judged")}
                           for c in card.get("candidates", [])],
            "train_s": card["timings"].get("train_s")}


def run_case(case, out: Path, venvs: Path, *, peer: bool = True) -> dict:
    row = bench_suite._child("first_try", {"case": case.name}, out)
    if "error" in row:
        return {"case": case.name, "outcome": "bench error", **row}
    row["synthgen"] = _synthgen_card(Path(row["runs"]), case.name)
    source = _source_path(row["spec"])
    row["mostlyai"] = (mostlyai(venv("mostlyai", venvs), source, out / "peers" / case.name / "mostlyai", _rows(source))
                       if peer else {})
    return rejudge(row, out, venvs)


def rejudge(row: dict, out: Path, venvs: Path) -> dict:
    source = _source_path(row["spec"])
    sets = {"synthgen": row["synthgen"].get("synthetic"), "mostlyai": row.get("mostlyai", {}).get("synthetic")}
    job = {"train": source, "unseen": row["unseen"], "label": _label(row["spec"]),
           "sets": {k: v for k, v in sets.items() if v}}
    row["judged"] = judge(venv("judge", venvs), job, out / "peers" / row["case"] / "judge.log")
    row["targets"] = targets(row)
    return row


def _source_path(spec: str) -> str:
    import yaml

    return yaml.safe_load(Path(spec).read_text())["source"]["path"]


def _label(spec: str) -> str:
    import yaml

    return yaml.safe_load(Path(spec).read_text())["label"]


def _rows(source: str) -> int:
    import polars as pl

    return (pl.scan_parquet(source) if source.endswith(".parquet") else pl.scan_csv(source)).select(pl.len()).collect().item()


def targets(row: dict) -> dict:
    j, m, s = row.get("judged", {}), row.get("mostlyai", {}), row.get("synthgen", {})
    ours, peer = j.get("synthgen"), j.get("mostlyai")
    if not ours or not peer:
        return {}
    argn = next((c for c in s.get("candidates", []) if c["name"] == "argn"), None)
    checks = {"detection": ours["detection"] <= peer["detection"] + DETECTION_MARGIN,
              "quality": ours["quality"] >= peer["quality"] - QUALITY_MARGIN,
              "tstr_auroc": (ours["tstr"]["auroc"] or 0) >= (peer["tstr"]["auroc"] or 0) - TSTR_MARGIN,
              "whole_run": row["seconds"] <= RUN_RATIO * m["seconds"],
              "published": bool(s.get("published"))}
    if argn:
        checks["argn_fit"] = argn["train_s"] <= m["fit_s"]
    return checks


def _f(v, nd=3):
    return "-" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def report(rows: list[dict]) -> str:
    lines = ["| case | tool | outcome | fit s | whole run s | peak MB | detection (floor) | quality | "
             "TSTR AUROC / F1 (real) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        j = r.get("judged") or {}
        real = j.get("real") or {}
        s, m = r.get("synthgen") or {}, r.get("mostlyai") or {}
        argn = next((c for c in s.get("candidates", []) if c["name"] == "argn"), {})
        ctgan = next((c for c in s.get("candidates", []) if c["name"] == "ctgan"), {})
        for tool, fit, whole, peak, outcome in (
                ("synthgen", f"argn {_f(argn.get('train_s'), 1)}, ctgan {_f(ctgan.get('train_s'), 1)}",
                 r.get("seconds"), r.get("peak_rss_mb"),
                 f"{r.get('outcome')} ({s.get('chosen', '-')})" + (f"; failed {', '.join(s['failed'])}" if s.get("failed") else "")),
                ("mostlyai", _f(m.get("fit_s"), 1), m.get("seconds"), m.get("peak_rss_mb"),
                 "error" if m.get("error") else "sampled")):
            v = j.get(tool) or {}
            t = v.get("tstr") or {}
            lines.append(f"| {r['case']} | {tool} | {outcome} | {fit} | {_f(whole, 1)} | {_f(peak, 0)} | "
                         f"{_f(v.get('detection'))} ({_f(real.get('detection'))}) | {_f(v.get('quality'))} "
                         f"({_f(real.get('quality'))}) | {_f(t.get('auroc'))} / {_f(t.get('macro_f1'))} "
                         f"({_f((real.get('tstr') or {}).get('auroc'))} / {_f((real.get('tstr') or {}).get('macro_f1'))}) |")
    lines += ["", "| case | " + " | ".join(("detection", "quality", "tstr_auroc", "argn_fit", "whole_run", "published"))
              + " |", "|---" * 7 + "|"]
    for r in rows:
        t = r.get("targets") or {}
        lines.append(f"| {r['case']} | " + " | ".join("met" if t.get(k) else ("-" if k not in t else "**missed**")
                                                      for k in ("detection", "quality", "tstr_auroc", "argn_fit",
                                                                "whole_run", "published")) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tier", choices=["quick", "full", "final"], default="quick")
    p.add_argument("--final-set", choices=list(bench_suite.FINAL_SETS),
                   default=next(n for n, cases in bench_suite.FINAL_SETS.items()
                                if any(c.modality == "tabular" for c in cases)))
    p.add_argument("--only", nargs="+", default=None)
    p.add_argument("--resume", action="store_true", help="keep cases already in results.json")
    p.add_argument("--out", type=Path, default=None, help="default bench/out/peers (final: bench/out/peers_final)")
    p.add_argument("--venvs", type=Path, default=ROOT / "bench" / "out" / "venvs",
                   help="where the peers' own environments live (created on first use)")
    p.add_argument("--report", action="store_true", help="print the table of results.json and stop")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="ablations: a spec override for synthgen on every case, e.g. model.name=argn (use with --out)")
    p.add_argument("--no-peer", action="store_true", help="ablations: synthgen and the judge only")
    p.add_argument("--rejudge", action="store_true", help="judge the sets of results.json again (no training)")
    args = p.parse_args()
    args.out = (args.out or ROOT / "bench" / "out" / ("peers_final" if args.tier == "final" else "peers")).resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.set:
        os.environ[bench_suite.SETTINGS_ENV] = json.dumps({"tabular": args.set})
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    cases = [c for c in bench_suite.cases_for(args.tier, args.only, args.final_set) if c.modality == "tabular"]
    results_path = args.out / "results.json"
    done = {r["case"]: r for r in json.loads(results_path.read_text())["cases"]} if (
        results_path.exists() and (args.resume or args.report or args.rejudge)) else {}
    if args.rejudge:
        for r in done.values():
            if r["case"] in {c.name for c in cases}:   # --only narrows it
                rejudge(r, args.out, args.venvs.resolve())
        results_path.write_text(json.dumps({"tier": args.tier, "cases": list(done.values())}, indent=2, default=str))
    elif not args.report:
        for name in VENVS:
            venv(name, args.venvs.resolve())
        start = time.perf_counter()
        for case in cases:
            if case.name in done and "error" not in done[case.name]:
                continue
            done[case.name] = run_case(case, args.out, args.venvs.resolve(), peer=not args.no_peer)
            r = done[case.name]
            print(f"{case.name}: synthgen {r.get('outcome')} in {_f(r.get('seconds'), 1)} s, "
                  f"mostlyai {_f((r.get('mostlyai') or {}).get('seconds'), 1)} s; targets {r.get('targets')}", flush=True)
            results_path.write_text(json.dumps({"tier": args.tier, "cases": list(done.values())}, indent=2, default=str))
        print(f"bench wall time: {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    rows = [done[c.name] for c in cases if c.name in done]
    print(report(rows))
    met = [all(r.get("targets", {}).values()) and bool(r.get("targets")) for r in rows]
    print(f"\ncases meeting every target: {sum(met)}/{len(rows)}; published: "
          f"{sum(bool((r.get('synthgen') or {}).get('published')) for r in rows)}/{len(rows)}")


if __name__ == "__main__":
    main()
