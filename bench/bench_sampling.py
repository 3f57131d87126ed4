"""Sampling at 20k+ rows: the acceptance-sized sampler and the DRS acceptance floor against the fixed
round budget they replace, on the same trained generators, in one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/bench_sampling.py [--cases budgetfood diamonds] [--percentiles 95 99]

Per case (the first-try suite's files and split, `bench/bench_suite.py`): synthgen's CTGAN is trained ONCE
at the defaults with `rejection: drs` (so a filter exists to study), then the training split's class counts
are sampled from it:
- no filter;
- the filter with its bound M at each percentile, without a floor (the old filter) and with the default
  floor (`rejection_min_acceptance`, M lowered until 10% of a burn-in sample is kept);
each under two budgets: the old one (200 batches of 500 = 100,000 candidates per class, the removed
`sample.max_rounds: 200`; emulated as the same candidate budget for every class, drawn by the new loop) and the new default
(max(rows, 100) / `sample.min_acceptance` = 100 candidates per row). A sample is refused when a class
stays short. Every sample the new budget completes is judged by the gates against the run's holdout
(quality, detection AUC, TSTR signal, the privacy gates), so what the floor costs in fidelity is beside
what it saves in candidates. One process, 1 torch thread.
Results: bench/out/sampling/results.json and a printed table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

OLD_CANDIDATES = 200 * 500          # the removed default: sample.max_rounds 200 batches of batch_size 500
GATES = ("quality_score", "detection_auc", "tstr_signal_ratio", "dcr_share", "rare_value_excess")


def run_case(name: str, percentiles: list[float], out: Path) -> dict:
    import bench_suite as suite
    from synthgen.generators import GENERATORS, GenerationError
    from synthgen.generators.base import DEFAULT_MIN_ACCEPTANCE, MIN_BUDGET_ROWS

    _, loaded, adapter, train, holdout = suite.table_case(name, out)
    spec = loaded.spec
    params = spec.model.model_dump(exclude={"name"})
    params.update(rejection="drs", rejection_min_acceptance=0.0)
    start = time.perf_counter()
    gen = GENERATORS.get("ctgan")(**params).fit(train)
    drs = gen.filter_
    floor = spec.model.rejection_min_acceptance
    row = {"case": name, "train_rows": len(train), "class_counts": train.class_counts(),
           "fit_s": round(time.perf_counter() - start, 1), "filter": drs.report, "floor": floor, "arms": []}
    print(f"{name}: {len(train)} train rows, fit {row['fit_s']} s, DRS held-out AUC {drs.report['held_out_auc']}",
          flush=True)
    settings = [("no filter", None, None)] + [(f"DRS p{q:g}, no floor", q, 0.0) for q in percentiles] \
        + [(f"DRS p{q:g}, floor {floor:g}", q, floor) for q in percentiles]
    for label, q, f in settings:
        if q is None:
            gen.filter_ = None
        else:
            drs.set_bound(q, f)
            gen.filter_ = drs
        def old_budget(jobs):   # every class gets the old 100,000 candidates, whatever its row count
            return gen.sample_classes([(cls, k, seed, max(k, MIN_BUDGET_ROWS) / OLD_CANDIDATES)
                                       for cls, k, seed, _ in jobs])

        for budget, run_classes in (("old: 100k candidates a class", old_budget),
                                    ("new: 100 candidates a row", None)):
            arm = {"setting": label, "budget": budget}
            t = time.perf_counter()
            try:
                plan = gen.plan(len(train), random_state=1, min_acceptance=DEFAULT_MIN_ACCEPTANCE)
                synthetic = gen.combine(plan, (run_classes or gen.sample_classes)(plan.jobs))
                arm["refused"] = False
            except GenerationError as exc:
                synthetic = exc.partial
                arm["refused"] = True
                arm["message"] = str(exc)[:300]
            arm["sample_s"] = round(time.perf_counter() - t, 2)
            records = synthetic.meta["sampling"]
            arm["acceptance"] = {c: round(r["acceptance"], 4) for c, r in records.items()}
            arm["candidates"] = sum(r["candidates"] for r in records.values())
            if not arm["refused"] and budget.startswith("new"):
                values, passed, failed = suite._judge(adapter, spec, train, holdout, synthetic)
                arm["gates"] = {g: values.get(g) for g in GATES if g in values}
                arm["failed"] = failed
            row["arms"].append(arm)
            print(f"  {label:24s} {budget:30s} refused={arm['refused']!s:5s} min acceptance "
                  f"{min(arm['acceptance'].values()):.3f} candidates {arm['candidates']:>9,} {arm['sample_s']:6.1f} s "
                  + (" ".join(f"{g} {v:.3f}" for g, v in arm.get("gates", {}).items() if v is not None)), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=["budgetfood", "diamonds"])
    parser.add_argument("--percentiles", nargs="+", type=float, default=[95.0, 99.0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "sampling"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [run_case(name, args.percentiles, out) for name in args.cases]
    (out / "results.json").write_text(json.dumps(rows, indent=1, default=str))
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
