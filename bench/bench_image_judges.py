"""Does the snapshot judge agree with the gates? Per image case, the class-conditional GAN is trained at its
defaults, in-process, on the run's own training split; at every snapshot the selection judge scores (what
training sees: the selection split carved from train, its own CNNs), the same snapshot is also scored the way
the gates score a published set: a sample with train's class counts, judged against the run's holdout by the
gates' classifier (`ImageValidationContext`, the classifier trained once on train and kept for every snapshot).

    .venv/bin/python bench/bench_image_judges.py                       # the suite's image cases + built-in mni152
    .venv/bin/python bench/bench_image_judges.py --cases pneumonia_small mni152 --set class_balance=0

Reported per case: Spearman rank correlation over snapshots of the judge's score (coverage x min(1, worst
label-fidelity ratio)) with the gates' same product on the holdout, and of the label-fidelity ratios alone,
beside the same for the judge synthgen had before (one CNN on the fit part, recall on the selection split);
the snapshot the judge kept and the one the gates would have kept; the share of epochs in which the
discriminator won outright (`d_loss_low_share`); train seconds. The holdout is read here only to measure the
judge: nothing in training sees it. Results: bench/out/image_judges/results.json (`--resume` keeps cases done).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# the built-ins: the full 1,365-slice mni152 set, and the README main job's spec itself (339 axial training slices)
BUILTINS = {"mni152": {"modality": "image", "name": "mni152", "source": {"builtin": "mni152"}},
            "mni152_readme": {"modality": "image", "name": "mni152", "source": {"builtin": "mni152_axial"},
                              "image": {"size": 32}}}


def _loaded(case: str, out: Path):
    import yaml

    import bench_suite as suite
    from synthgen.spec import load_spec

    if case in BUILTINS:
        folder = out / "data" / case
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "spec.yaml"
        path.write_text(yaml.safe_dump(BUILTINS[case], sort_keys=False))
        return load_spec(path, [])
    c = suite.BY_NAME[case]
    folder = out / "data" / case
    built = c.build(folder)
    return load_spec(suite._spec(c, built, folder), [])


def gate_scores(ctx_args: dict, classifier, synthetic) -> dict:
    from synthgen.validation.images import ImageValidationContext
    from synthgen.validation.suite import run_metrics

    ctx = ImageValidationContext(synthetic=synthetic, **ctx_args)
    if classifier is not None:
        ctx.__dict__["classifier"] = classifier          # the gates' classifier, trained once on train
    r = run_metrics(ctx, ["label_fidelity_ratio", "coverage", "tstr_chance_ratio", "dcr_share"], modality="image")
    lfr, cov = r["label_fidelity_ratio"].value, r["coverage"].value
    return {"score": (cov or 0.0) * min(1.0, lfr or 0.0), "label_fidelity_ratio": lfr, "coverage": cov,
            "tstr_chance_ratio": r["tstr_chance_ratio"].value, "dcr_share": r["dcr_share"].value,
            "worst_class": r["label_fidelity_ratio"].details.get("worst_class")}, ctx.classifier


def run_case(case: str, out: Path, settings: list[str]) -> dict:
    import torch
    from scipy.stats import spearmanr

    from synthgen.data import LabeledImages
    from synthgen.generators import GENERATORS
    from synthgen.generators.conditional_gan import draw_images
    from synthgen.modalities import MODALITIES
    from synthgen.training import selection

    loaded = _loaded(case, out)
    spec = loaded.spec
    adapter = MODALITIES.get("image")
    train, holdout, _, _ = adapter.load(spec, loaded.base_dir)
    params = spec.candidate_models()[0].model_dump(exclude={"name"})
    for item in settings:
        key, value = item.split("=", 1)
        params[key] = json.loads(value) if value[:1] in "0123456789-[{tn" else value
    generator = GENERATORS.get("conditional_gan")(**params)
    counts = train.label_index()
    wanted = np.sort(counts)                                  # train's class counts, in class order
    ctx_args = {"train": train, "holdout": holdout, "max_rows": spec.validation.max_images,
                "random_state": spec.split.random_state,
                "classifier_epochs": spec.validation.classifier_epochs, "threads": params["threads"],
                "min_steps": spec.validation.min_steps}
    state = {"classifier": None, "gates": {}, "single": {}}
    single = single_split_judge(train, generator.params)
    original = selection.SnapshotSelector.step

    def step(self, position, model, snapshot):
        due = self.due(position)
        original(self, position, model, snapshot)
        if not due:
            return
        p = generator.params
        images = draw_images(model, wanted, p, torch.Generator().manual_seed(p["random_state"] + 999))
        synthetic = LabeledImages(images=images, labels=np.asarray(train.classes, dtype=object)[wanted],
                                  classes=train.classes, origin="synthetic")
        state["gates"][position], state["classifier"] = gate_scores(ctx_args, state["classifier"], synthetic)
        state["single"][position] = single(model)
        model.train(False)

    selection.SnapshotSelector.step = step
    try:
        start = time.perf_counter()
        generator.fit(train, **adapter.fit_options(spec, None))
        seconds = time.perf_counter() - start
    finally:
        selection.SnapshotSelector.step = original
    curve = generator.selection_["curve"]
    at = [p["at"] for p in curve]
    judge = [p["score"] for p in curve]
    gates = [state["gates"][a]["score"] for a in at]
    lfr_j = [p["label_fidelity_ratio"] for p in curve]
    before = [state["single"][a]["score"] for a in at]
    lfr_g = [state["gates"][a]["label_fidelity_ratio"] for a in at]

    def rho(a, b):
        r = spearmanr(a, b).statistic
        return None if r is None or np.isnan(r) else float(r)
    return {"case": case, "train": len(train), "holdout": len(holdout), "settings": settings,
            "class_counts": train.class_counts(), "seconds": seconds,
            "spearman_score": rho(judge, gates), "spearman_label_fidelity": rho(lfr_j, lfr_g),
            "spearman_single_split_judge": rho(before, gates),
            "spearman_single_split_label_fidelity": rho([state["single"][a]["label_fidelity_ratio"] for a in at], lfr_g),
            "judge_kept": generator.selection_["best_at"], "gates_best": at[int(np.argmax(gates))],
            "gates_at_kept": state["gates"].get(generator.selection_["best_at"]),
            "d_loss_low_share": generator.timings_.get("d_loss_low_share"),
            "epochs": generator.timings_.get("epochs_done"),
            "curve": [{"at": a, "judge": p, "gates": state["gates"][a], "single_split_judge": state["single"][a]}
                      for a, p in zip(at, curve)]}


def single_split_judge(train, params: dict):
    """The judge before issue 25, rebuilt for comparison on the same snapshots: one CNN trained unweighted on
    the fit part, label fidelity over its recall on the selection split (min(1, accuracy / recall)), times the
    coverage of the selection images' features."""
    import torch

    from synthgen.generators.conditional_gan import draw_images
    from synthgen.training.classifier import predict, train_classifier
    from synthgen.training.selection import carve_selection
    from synthgen.validation.images import density_coverage

    labels, k = train.label_index(), len(train.classes)
    fit, sel = carve_selection(labels, random_state=params["random_state"])
    net = train_classifier(train.images[fit], labels[fit], k, random_state=params["random_state"] + 7331,
                           threads=params["threads"], balanced=False)
    probs, sel_features = predict(net, train.images[sel])
    recall = {c: float(np.mean(np.argmax(probs, 1)[labels[sel] == c] == c)) for c in range(k) if np.any(labels[sel] == c)}
    wanted = np.repeat(np.arange(k), max(100, int(np.ceil(len(sel) / k))))

    def score(model) -> dict:
        images = draw_images(model, wanted, params, torch.Generator().manual_seed(params["random_state"] + 4242))
        p, feats = predict(net, images)
        pred = np.argmax(p, 1)
        worst = min(min(1.0, float(np.mean(pred[wanted == c] == c)) / max(r, 1e-9)) for c, r in recall.items())
        coverage = density_coverage(sel_features, feats)[1]
        return {"score": coverage * worst, "label_fidelity_ratio": worst, "coverage": coverage, "recall": recall}
    return score


def main() -> None:
    import bench_suite as suite

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    image_cases = [c.name for c in suite.CASES if c.modality == "image"] + list(BUILTINS)
    p.add_argument("--cases", nargs="+", default=[c for c in image_cases
                                                  if "pneumonia" not in c or suite.PNEUMONIA.exists()])
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="conditional_gan parameters")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "image_judges")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()
    torch_threads()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "results.json"
    done = {r["case"]: r for r in json.loads(path.read_text())["cases"]} if args.resume and path.exists() else {}
    for case in args.cases:
        if case in done:
            continue
        done[case] = run_case(case, args.out, args.set)
        path.write_text(json.dumps({"cases": list(done.values())}, indent=2, default=str))
        r = done[case]
        print(f"{case:18s} rho(score) {_f(r['spearman_score'])}  rho(LFR) {_f(r['spearman_label_fidelity'])}  "
              f"single-split judge: rho(score) {_f(r['spearman_single_split_judge'])} "
              f"rho(LFR) {_f(r['spearman_single_split_label_fidelity'])}  "
              f"kept {r['judge_kept']} (gates' best {r['gates_best']})  gates at kept: LFR "
              f"{_f(r['gates_at_kept']['label_fidelity_ratio'])} TSTR {_f(r['gates_at_kept']['tstr_chance_ratio'])}  "
              f"d_loss low {_f(r['d_loss_low_share'])}  {r['seconds']:.0f} s", flush=True)


def _f(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def torch_threads() -> None:
    import torch

    torch.set_num_threads(2)


if __name__ == "__main__":
    main()
