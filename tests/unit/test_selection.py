"""Budgets by work and model selection that never reads the gate holdout."""

import json

import numpy as np
import polars as pl
import pytest
import torch

from synthgen import pipeline
from synthgen.data import holdout_mask
from synthgen.generators.conditional_gan import image_budget
from synthgen.generators.ctgan import table_steps
from synthgen.training.selection import SnapshotSelector, carve_selection, evaluation_points
from synthgen.validation.judges import memorisation_check
from tests.conftest import TINY_CTGAN, TINY_GAN


def test_selection_split_is_stratified_seeded_and_spares_tiny_classes():
    labels = np.array(["a"] * 100 + ["b"] * 30 + ["c"] * 3)
    fit, sel = carve_selection(labels, random_state=1)
    assert len(np.intersect1d(fit, sel)) == 0 and len(fit) + len(sel) == len(labels)
    counts = {c: int(np.sum(labels[sel] == c)) for c in "abc"}
    assert counts == {"a": 10, "b": 3, "c": 0}          # 10%, at least 2; a 3-row class stays whole
    again, _ = carve_selection(labels, random_state=1)
    other, _ = carve_selection(labels, random_state=2)
    assert np.array_equal(fit, again) and not np.array_equal(fit, other)


def test_budgets_scale_with_the_data():
    assert evaluation_points(35) == [4, 7, 10, 14, 18, 21, 24, 28, 32, 35]
    assert evaluation_points(3) == [1, 2, 3]
    assert image_budget(300) == 100_000 and image_budget(4000) == 120_000 and image_budget(50_000) == 1_000_000
    assert image_budget(300, 5000) == 5000
    assert table_steps(300, 8, 500) == 1000                   # small tables still get 1,000 updates
    assert table_steps(32_000, 10, 500) == 3840               # 60 passes
    assert table_steps(32_000, 90, 500) == 11_520             # wide: times sqrt(columns / 10), at most 3
    assert table_steps(1_000_000, 10, 500) == 10_000


def test_selector_keeps_the_best_snapshot_and_round_trips():
    scores = iter([0.2, 0.9, 0.5])
    weights = {"w": torch.zeros(2)}
    sel = SnapshotSelector(judge=lambda model: {"score": next(scores)}, points=[1, 2, 3])
    for at in (1, 2, 3):
        weights["w"] += 1
        sel.step(at, None, lambda: weights)
        sel.step(at, None, lambda: weights)             # judged once per point
    assert [p["at"] for p in sel.curve] == [1, 2, 3]
    assert sel.best["at"] == 2 and torch.equal(sel.best_state["w"], torch.full((2,), 2.0))
    copy = SnapshotSelector(judge=None, points=[1, 2, 3])
    copy.restore(sel.state())
    assert copy.summary()["best_at"] == 2 and copy.best_state is sel.best_state


def test_selector_prefers_snapshots_that_do_not_memorise():
    curve = iter([{"score": 0.3, "dcr_share": 0.51, "private": True},
                  {"score": 0.9, "dcr_share": 0.70, "private": False},      # best quality, but copies
                  {"score": 0.5, "dcr_share": 0.53, "private": True}])
    sel = SnapshotSelector(judge=lambda model: next(curve), points=[1, 2, 3])
    for at in (1, 2, 3):
        sel.step(at, None, lambda: {"at": at})
    assert sel.best["at"] == 3 and sel.best_state == {"at": 3}
    # when every snapshot memorises, the one that memorises least
    curve = iter([{"score": 0.9, "dcr_share": 0.70, "private": False},
                  {"score": 0.2, "dcr_share": 0.62, "private": False}])
    sel = SnapshotSelector(judge=lambda model: next(curve), points=[1, 2])
    for at in (1, 2):
        sel.step(at, None, lambda: {"at": at})
    assert sel.best["at"] == 2 and sel.best_state == {"at": 2}


def test_memorisation_check_flags_copies_of_the_fit_images_and_passes_unseen_ones(mnist_split):
    train, holdout = mnist_split
    flat = lambda images: images.reshape(len(images), -1).astype(np.float32) / 255.0
    fit, selection, unseen = flat(train.images[:300]), flat(train.images[300:600]), flat(holdout.images[:400])
    copies = memorisation_check(fit, fit, selection)
    fresh = memorisation_check(unseen, fit, selection)
    assert copies["dcr_share"] > 0.9 and not copies["private"]
    assert abs(fresh["dcr_share"] - 0.5) < 0.1 and fresh["private"]


def _changed_holdout(frame: pl.DataFrame, label: str, mask: np.ndarray) -> pl.DataFrame:
    """Every feature value of the holdout rows changed (numbers moved, categories rotated); labels kept,
    so the stratified split picks the same rows."""
    out = {}
    for name in frame.columns:
        s = frame.get_column(name)
        if name == label:
            out[name] = s
        elif s.dtype.is_numeric():
            out[name] = pl.Series(name, np.where(mask, s.to_numpy() * 3 + 1000, s.to_numpy()))
        else:
            cats = sorted(s.unique().to_list())
            rot = {c: cats[(i + 1) % len(cats)] for i, c in enumerate(cats)}
            out[name] = pl.Series(name, [rot[v] if m else v for v, m in zip(s.to_list(), mask)])
    return pl.DataFrame(out)


def _train(spec_file, tmp_path, name: str, frame: pl.DataFrame):
    source = tmp_path / f"{name}.csv"
    frame.write_csv(source)
    spec = {"modality": "tabular", "name": name, "source": {"path": str(source)}, "label": "target",
            "model": {"name": "ctgan", **{**TINY_CTGAN, "epochs": None, "steps": 30, "select_snapshot": True}}}
    run = pipeline.start_run(spec_file(spec, f"{name}.yaml"), out=tmp_path / "out")
    pipeline.load_data(run)
    pipeline.train_generator(run)
    model = run.work / pipeline.CANDIDATES / "0"
    meta = json.loads((model / "generator.json").read_text())
    weights = torch.load(next(model.glob("*.pt")), weights_only=True)
    return meta, weights


def test_changing_every_holdout_value_leaves_training_and_selection_bit_identical(spec_file, tmp_path):
    from sklego.datasets import load_hearts

    frame = pl.from_pandas(load_hearts(as_frame=True)).with_columns(pl.col("target").cast(pl.String))
    mask = holdout_mask(frame.get_column("target").to_numpy(), holdout=0.2, random_state=0, stratify=True,
                        origin="hearts")
    meta_a, w_a = _train(spec_file, tmp_path, "a", frame)
    meta_b, w_b = _train(spec_file, tmp_path, "b", _changed_holdout(frame, "target", mask))
    curve = meta_a["state"]["selection"]["curve"]
    assert len(curve) == 10 and meta_a["state"]["selection"] == meta_b["state"]["selection"]
    assert w_a.keys() == w_b.keys() and all(torch.equal(w_a[k], w_b[k]) for k in w_a)
    # ...while the same change to training rows does change them (the test can fail)
    meta_c, w_c = _train(spec_file, tmp_path, "c", _changed_holdout(frame, "target", ~mask))
    assert not all(torch.equal(w_a[k], w_c[k]) for k in w_a)


@pytest.fixture(scope="module")
def selected_gan(mnist_split):
    from synthgen.generators import GENERATORS

    train, _ = mnist_split
    idx = np.concatenate([np.flatnonzero(train.labels == c)[:40] for c in ("0", "1", "7")])
    data = train.subset(idx)
    return GENERATORS.get("conditional_gan")(**{**TINY_GAN, "epochs": 4, "select_snapshot": True}).fit(data)


def test_image_gan_keeps_the_best_judged_snapshot(selected_gan, tmp_path):
    sel = selected_gan.selection_
    assert sel["points"] == [1, 2, 3, 4] and len(sel["curve"]) == 4
    assert all(0.0 <= p["dcr_share"] <= 1.0 and isinstance(p["private"], bool) for p in sel["curve"])
    best = max(sel["curve"], key=lambda p: (p["private"], p["score"] if p["private"] else -p["dcr_share"],
                                            -p["at"]))
    assert sel["best_at"] == best["at"] == selected_gan.timings_["selected_epoch"]
    assert selected_gan.timings_["fit_images"] == 108            # 120 less a 10% selection split
    assert selected_gan.timings_["stop_reason"] == "budget"
    # the kept snapshot is what is saved and sampled
    from synthgen.generators import Generator

    loaded = Generator.load(selected_gan.save(tmp_path / "m"))
    assert loaded.selection_ == sel
    a = selected_gan.sample(12, random_state=3).images
    assert np.array_equal(a, loaded.sample(12, random_state=3).images)
