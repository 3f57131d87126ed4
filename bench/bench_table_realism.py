"""Tables: discriminator rejection sampling (DRS) beside the same model without it and bare ctgan; and
rebalancing a training set with synthgen's minority-class rows against SMOTE at the same row counts.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/bench_table_realism.py [--cases chile abalone medexp diamonds] [--percentiles 80 95 99]

For each of the first-try suite's tables (same files, same split as `bench/bench_suite.py`), synthgen's
CTGAN is trained ONCE at the defaults plus `rejection: drs`, and the same trained generator is sampled
(train's row count, train's class counts) without DRS and with DRS at each percentile bound M; bare ctgan
(ctgan.CTGAN as shipped, the same number of passes) is trained beside it. Every synthetic set is judged by
the gates (quality, detection AUC, TSTR signal, the privacy gates) against the run's holdout, and by
train-on-synthetic / test-on-unseen where the case keeps an unseen split.

Rebalancing (cases with an unseen split): every class below the majority is topped up to the majority's
count, once with SMOTE (imbalanced-learn; SMOTENC when there are categorical columns; numeric nulls
median-filled for it) and once with rows the same trained synthgen generator samples for exactly those
counts (without and with DRS). The gates' own classifier (HistGradientBoosting) trains on each set and is
scored on the unseen split: balanced accuracy and the F1 of the rarest training class.
One process per case, 1 thread. Results: bench/out/table_realism/results.json and printed tables.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

GATES = ("quality_score", "detection_auc", "tstr_signal_ratio", "dcr_share", "mia_auroc", "exact_copy_excess",
         "close_to_train_share")


def run_case(name: str, percentiles: list[float], out: Path) -> dict:
    import bench_suite as suite
    from synthgen.generators import GENERATORS, GenerationError

    built, loaded, adapter, train, holdout = suite.table_case(name, out)
    spec = loaded.spec
    unseen = suite._unseen(spec, adapter, train, built["unseen"], loaded.base_dir) if built.get("unseen") else None
    params = spec.model.model_dump(exclude={"name"})
    params.update(rejection="drs", rejection_percentile=percentiles[0])
    start = time.perf_counter()
    gen = GENERATORS.get("ctgan")(**params).fit(train)
    row = {"case": name, "rows": {"train": len(train), "holdout": len(holdout)}, "fit_s": time.perf_counter() - start,
           "steps": gen.timings_.get("steps"), "rejection_fit_s": gen.timings_.get("rejection_fit_s"),
           "filter": gen.filter_.report, "arms": {}}
    drs = gen.filter_
    n = len(train)

    def judge(label, synthetic, extra=None):
        values, passed, failed = suite._judge(adapter, spec, train, holdout, synthetic)
        arm = {"values": {g: values.get(g) for g in values}, "passed": passed, "failed": failed, **(extra or {})}
        if unseen is not None:
            arm["unseen"] = suite._independent(adapter, spec, train, unseen, synthetic)
        row["arms"][label] = arm
        print(f"{name} {label}: " + ", ".join(f"{g} {values.get(g)}" for g in GATES if g in values)
              + f" failed={failed}", flush=True)

    gen.filter_ = None
    t = time.perf_counter()
    plain = gen.sample(n, random_state=1)
    judge("synthgen, no DRS", plain, {"sample_s": time.perf_counter() - t,
                                      "acceptance": min(plain.meta["acceptance"].values())})
    for q in percentiles:
        drs.set_bound(q)
        gen.filter_ = drs
        t = time.perf_counter()
        try:
            kept = gen.sample(n, random_state=1)
        except GenerationError as exc:     # a high bound can keep too few rows of a class
            row["arms"][f"synthgen + DRS (M at p{q:g})"] = {"error": str(exc)[:200]}
            continue
        judge(f"synthgen + DRS (M at p{q:g})", kept, {"sample_s": time.perf_counter() - t,
                                                          "acceptance": min(kept.meta["acceptance"].values())})
    try:
        bare, bare_s = suite.bare_ctgan_sample(spec, train, n)
        judge("bare ctgan", bare, {"fit_s": bare_s})
    except Exception as exc:  # ctgan as shipped refuses nulls in numeric columns
        row["arms"]["bare ctgan"] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
    if params.get("gmm_fit_rows") and len(train) > params["gmm_fit_rows"]:
        # the lead on utility: the mode normaliser fitted on a 5,000-row sample may thin rare large values
        full = GENERATORS.get("ctgan")(**{**params, "rejection": "none", "gmm_fit_rows": None}).fit(train)
        judge("synthgen, no DRS, normaliser on all rows", full.sample(n, random_state=1),
              {"fit_s": full.timings_.get("fit_s")})
    if unseen is not None:
        drs.set_bound(percentiles[0])
        row["rebalance"] = rebalance(adapter, spec, train, unseen, gen, drs)
        for arm, r in row["rebalance"]["arms"].items():
            print(f"{name} rebalance {arm}: balanced accuracy {r['balanced_accuracy']:.3f}, "
                  f"F1 of {row['rebalance']['rarest']!r} {r['rare_f1']:.3f}", flush=True)
    return row


def rebalance(adapter, spec, train, unseen, gen, drs) -> dict:
    """Real train topped up to the majority count per class: SMOTE vs synthgen rows, same counts."""
    import polars as pl
    from sklearn.metrics import balanced_accuracy_score, f1_score

    counts = train.class_counts()
    top = max(counts.values())
    extra = {c: top - k for c, k in counts.items()}
    rarest = min(counts, key=counts.get)
    ctx = adapter.context(spec, train, unseen, train)
    x_real, y_real = ctx.features(train)
    x_test, y_test = ctx.features(unseen)
    mask = ctx.categorical_mask

    def score(x, y) -> dict:
        clf = ctx.classifier(0, labels=y)
        clf.fit(x, y)
        pred = clf.predict(x_test)
        return {"rows": int(len(y)), "balanced_accuracy": float(balanced_accuracy_score(y_test, pred)),
                "rare_f1": float(f1_score(y_test, pred, labels=[rarest], average="macro", zero_division=0))}

    arms = {"real only": score(x_real, y_real)}
    from imblearn.over_sampling import SMOTE, SMOTENC

    filled = np.where(np.isnan(x_real), np.nanmedian(x_real, axis=0), x_real)
    k = max(1, min(5, min(counts.values()) - 1))
    smote = (SMOTENC(categorical_features=np.flatnonzero(mask).tolist(), random_state=0, k_neighbors=k)
             if mask.any() and not mask.all() else SMOTE(random_state=0, k_neighbors=k))
    x_sm, y_sm = smote.fit_resample(filled, y_real)
    arms["real + SMOTE"] = score(x_sm, y_sm)
    for label, f in (("real + synthgen rows", None), ("real + synthgen rows, DRS", drs)):
        gen.filter_ = f
        rows = gen.sample(per_class={c: v for c, v in extra.items()}, random_state=5)
        x_syn, y_syn = ctx.features(rows)
        arms[label] = score(np.vstack([x_real, x_syn]), np.r_[y_real, y_syn])
    gen.filter_ = drs
    return {"added": extra, "rarest": rarest, "arms": arms}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", nargs="+", default=["chile", "abalone", "medexp", "diamonds"])
    p.add_argument("--percentiles", nargs="+", type=float, default=[95.0])
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "table_realism")
    p.add_argument("--child", default=None, help="run one case in this process")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.child:
        import torch

        torch.set_num_threads(1)
        print("RESULT " + json.dumps(run_case(args.child, args.percentiles, args.out), default=str), flush=True)
        return
    results_path = args.out / "results.json"
    rows = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name in args.cases:
        done = subprocess.run([sys.executable, __file__, "--child", name, "--out", str(args.out), "--percentiles",
                               *map(str, args.percentiles)], capture_output=True, text=True)
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
        print("\n".join(ln for ln in done.stdout.splitlines() if not ln.startswith("RESULT ")), flush=True)
        if not lines:
            print(f"{name}: failed\n" + "\n".join(done.stderr.splitlines()[-15:]), flush=True)
            continue
        rows[name] = json.loads(lines[-1][len("RESULT "):])
        results_path.write_text(json.dumps(rows, indent=2))
    print(table(rows))
    print()
    print(rebalance_table(rows))


def table(rows: dict) -> str:
    out = ["| case | arm | detection AUC | quality | TSTR signal | DCR share | MIA AUROC | unseen TSTR AUROC / TRTR | failed |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        for label, arm in row["arms"].items():
            if "error" in arm:
                out.append(f"| {name} | {label} | fails: {arm['error'][:90]} |||||||")
                continue
            v = arm["values"]
            u = arm.get("unseen")
            f = lambda k: "-" if v.get(k) is None else f"{v[k]:.3f}"  # noqa: E731
            out.append(f"| {name} | {label} | {f('detection_auc')} | {f('quality_score')} | {f('tstr_signal_ratio')} | "
                       f"{f('dcr_share')} | {f('mia_auroc')} | "
                       + (f"{u['tstr']:.3f} / {u['trtr']:.3f}" if u else "-") + f" | {', '.join(arm['failed']) or '-'} |")
    return "\n".join(out)


def rebalance_table(rows: dict) -> str:
    out = ["| case | rarest class | rows added | arm | balanced accuracy | F1 of the rarest class |", "|---|---|---|---|---|---|"]
    for name, row in rows.items():
        r = row.get("rebalance")
        if not r:
            continue
        for arm, v in r["arms"].items():
            out.append(f"| {name} | {r['rarest']} | {sum(r['added'].values())} | {arm} | {v['balanced_accuracy']:.3f} | "
                       f"{v['rare_f1']:.3f} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
