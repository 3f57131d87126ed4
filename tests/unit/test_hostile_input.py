"""Hostile and odd input, through the real CLI in subprocesses: each case exits 2 naming the culprit, with
no traceback, writes nothing under the output folder and stays within a memory bound; names that are data
(`$`, markup) never crash a report; what one real row alone carries never reaches a published byte."""

import json
import resource
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import polars as pl

from synthgen import pipeline
from synthgen.errors import GateFailed
from tests.conftest import TINY_CTGAN, small_spec

CLI = [sys.executable, "-m", "synthgen.cli"]
MEMORY_BOUND = 3 * 2**30          # address space of the child: a case that expands its input dies, not passes


def _bounded():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BOUND, MEMORY_BOUND))


def cli(*args, timeout=300):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=_bounded)


def refused(done, *names):
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr and "synthgen: bad input" in done.stderr
    for name in names:
        assert name in done.stderr, (name, done.stderr[-2000:])


def nothing_under(out: Path):
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file() and ".staging" not in p.parts]


def test_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\nmodality: tabular\n")
    assert bomb.stat().st_size < 1000
    done = cli("check", bomb, timeout=60)
    refused(done, "bomb.yaml", "aliases")
    assert len(done.stderr) < 2000                             # the expansion is never repeated back


def test_error_texts_quote_only_a_short_excerpt_of_a_value(spec_file, tmp_path):
    spec = small_spec()
    spec["sample"] = {"rows": "x" * 50_000}
    done = cli("check", spec_file(spec), timeout=60)
    refused(done, "sample.rows")
    assert len(done.stderr) < 1500 and "…" in done.stderr


def test_npz_whose_header_lies_is_refused_before_allocating(spec_file, tmp_path):
    npz = tmp_path / "forged.npz"
    np.savez(npz, train_images=np.zeros((4, 8, 8), np.uint8), train_labels=np.zeros((4, 1), np.int64))
    # forge the images member's header (stored uncompressed by np.savez) to claim 9e8 rows
    raw = bytearray(npz.read_bytes())
    at = raw.index(b"(4, 8, 8)")
    raw[at:at + 9] = b"(9e8,8,8)".replace(b"9e8", b"900")  # keep the length: '(900,8,8)'
    npz.write_bytes(bytes(raw))
    spec = spec_file({"modality": "image", "name": "forged", "source": {"path": str(npz)}})
    out = tmp_path / "out"
    done = cli("run", spec, "--no-prefect", "--quiet", "--out", out)
    refused(done, "forged.npz", "train_images", "re-save it")
    nothing_under(out)


def _png_claiming(path: Path, width: int, height: int) -> None:
    """A 1x1 PNG whose IHDR claims width x height (CRC fixed): decoding it would need width*height pixels."""
    from PIL import Image

    Image.new("L", (1, 1)).save(path)
    raw = bytearray(path.read_bytes())
    ihdr = raw.index(b"IHDR")
    raw[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(raw[ihdr:ihdr + 17])) & 0xFFFFFFFF
    raw[ihdr + 17:ihdr + 21] = struct.pack(">I", crc)
    path.write_bytes(bytes(raw))


def _picture_folder(root: Path, classes) -> Path:
    from PIL import Image

    for cls in classes:
        (root / cls).mkdir(parents=True)
        for i in range(12):
            Image.new("L", (16, 16), color=i * 10).save(root / cls / f"{i}.png")
    return root


def _run_pictures(spec_file, root: Path, out: Path):
    return cli("run", spec_file({"modality": "image", "name": "pics", "source": {"path": str(root)}}),
               "--no-prefect", "--quiet", "--out", out, timeout=120)


def test_a_huge_picture_is_refused_from_its_header(spec_file, tmp_path):
    root = _picture_folder(tmp_path / "pics", ("a", "b"))
    _png_claiming(root / "a" / "huge.png", 12_000, 12_000)
    refused(_run_pictures(spec_file, root, tmp_path / "out"), "huge.png", "12000 x 12000")
    nothing_under(tmp_path / "out")


def test_class_folders_that_would_share_an_output_folder_are_refused(spec_file, tmp_path):
    root = _picture_folder(tmp_path / "pics", ("a b", "a_b"))
    refused(_run_pictures(spec_file, root, tmp_path / "out"), "'a b'", "'a_b'", "same folder")
    nothing_under(tmp_path / "out")


def test_a_single_class_label_quotes_a_short_excerpt(spec_file, tmp_path):
    csv = tmp_path / "one.csv"
    pl.DataFrame({"x": list(range(40)), "y": ["Z" * 5000] * 40}).write_csv(csv)
    done = cli("check", spec_file({"modality": "tabular", "name": "one", "source": {"path": str(csv)}, "label": "y"}))
    assert done.returncode == 0                                 # the spec is fine; the data is not
    out = tmp_path / "out"
    done = cli("run", spec_file({"modality": "tabular", "name": "one", "source": {"path": str(csv)}, "label": "y"}),
               "--no-prefect", "--quiet", "--out", out)
    refused(done, "single class")
    assert len(done.stderr) < 1000
    nothing_under(out)


def test_names_with_dollars_and_markup_are_drawn_as_text(spec_file, tmp_path):
    """A price band `$$`, a column `$cost`, a class `<b>a$b</b>`: the report is written, not crashed."""
    rng = np.random.default_rng(0)
    n = 300
    frame = pl.DataFrame({"$cost": rng.normal(10, 2, n).round(2),
                          "band": rng.choice(["$", "$$", "$$$"], n),
                          "label": rng.choice(["<b>a$b</b>", "plain_$"], n)})
    path = tmp_path / "prices.parquet"
    frame.write_parquet(path)
    spec = {"modality": "tabular", "name": "prices", "source": {"path": str(path)}, "label": "label",
            "model": {"name": "ctgan", **TINY_CTGAN}, "gates": {k: None for k in (
                "gx_success_rate", "quality_score", "detection_auc", "tstr_signal_ratio", "augmentation_no_harm")}}
    out = tmp_path / "out"
    done = cli("run", spec_file(spec), "--no-prefect", "--quiet", "--out", out)
    assert done.returncode in (0, 3), done.stderr[-3000:]
    report = next(out.rglob("report.html")).read_text()
    assert "&lt;b&gt;a$b&lt;/b&gt;" in report or "<b>a$b</b>" not in report


def test_a_canary_in_one_real_row_reaches_no_published_byte(spec_file, tmp_path):
    """One real row carries a unique category and an extreme number; value protection (the default) keeps
    both out of every file of the published folder: data, card, metrics, GX suite, report, model JSON."""
    from synthgen.sources.builtin import BUILTIN_TABLES

    from synthgen.data import holdout_mask

    frame = BUILTIN_TABLES["hearts"].load()
    frame = frame.with_columns(pl.col("thal").cast(pl.String))
    # the canary row is a training row (the split is the run's own: same labels, share and seed)
    held = holdout_mask(frame.get_column("target").cast(pl.String).to_numpy(), holdout=0.2, random_state=1,
                        stratify=True, origin="hearts")
    row = int(np.flatnonzero(~held)[3])
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row).then(pl.lit("CANARYCAT7731")).otherwise(pl.col("thal")).alias("thal"),
        pl.when(pl.int_range(pl.len()) == row).then(pl.lit(987654.25)).otherwise(pl.col("chol").cast(pl.Float64))
        .alias("chol"))
    src = tmp_path / "hearts.parquet"
    frame.write_parquet(src)
    spec = small_spec(source={"path": str(src)}, columns={"thal": {"type": "categorical"}},
                      split={"holdout": 0.2, "random_state": 1})
    out = tmp_path / "out"
    done = cli("run", spec_file(spec), "--no-prefect", "--quiet", "--out", out)
    assert done.returncode in (0, 3), done.stderr[-3000:]
    published = [p for p in (out / "hearts_tiny").rglob("*") if p.is_file()] or \
        [p for p in (out / "_quarantine").rglob("*") if p.is_file()]
    assert any(p.name == "generator.json" for p in published) and any(p.name == "data.parquet" for p in published)
    canaries = [b"CANARYCAT7731", b"987654", struct.pack("<d", 987654.25), struct.pack(">d", 987654.25)]
    for path in published:
        raw = path.read_bytes()
        for canary in canaries:
            assert canary not in raw, (path, canary)
    card = json.loads(next(p for p in published if p.name == "card.json").read_text())
    protection = card["source"]["protection"]
    assert protection["enabled"] and protection["columns"]["thal"]["rare_categories"] >= 1
    assert protection["columns"]["chol"]["clipped_high"] >= 1
    # and the same canary with protection off is in the model: the card says so plainly
    try:                                                   # (in this process: the CLI path is covered above)
        pipeline.run_pipeline(spec_file({**spec, "protection": {"enabled": False}}, "off.yaml"), out=tmp_path / "off")
    except GateFailed:
        pass
    model = next((tmp_path / "off").rglob("generator.json")).read_bytes()
    assert b"CANARYCAT7731" in model and b"987654.25" in model           # the known-bad side: it can fail
    # the published suite (value sets, bounds) never holds it; what it observed in this synthetic set may
    gx = json.loads(next((tmp_path / "off").rglob("gx_results.json")).read_text())
    expectations = json.dumps([gx["suite"], [r["kwargs"] for r in gx["checkpoint"]["results"]]])
    assert "CANARYCAT7731" not in expectations and "987654" not in expectations
    card = json.loads(next((tmp_path / "off").rglob("card.json")).read_text())
    assert not card["source"]["protection"]["enabled"] and "may be in the synthetic data" in \
        card["source"]["protection"]["note"]
