"""Image specs walk the same path: publish layout, MedMNIST NPZ export, refusals, no header leaks."""

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from synthgen import pipeline
from synthgen.errors import GateFailed, InputError
from tests.conftest import TINY_GAN

LOOSE = {"label_fidelity_ratio": None, "fd_ratio": None, "coverage": None, "tstr_chance_ratio": None,
         "augmentation_no_harm": None,
         "memorization_share": 0.5, "dcr_share": None}


def image_spec(source: dict, **extra) -> dict:
    spec = {"modality": "image", "name": "digits_tiny", "source": source,
            "model": {"name": "conditional_gan", **TINY_GAN, "epochs": 1},
            "sample": {"rows": 60, "balance": True}, "gates": dict(LOOSE),
            "validation": {"classifier_epochs": 1, "max_images": 300, "min_steps": 40}}
    spec.update(extra)
    return spec


CANARY_TEXT = b"CANARYIMG5521"


def _canary_image() -> np.ndarray:
    """A 28x28 checkerboard with a bright frame: no digit looks like it, so finding it means it was copied."""
    board = (np.indices((28, 28)).sum(axis=0) % 2 * 255).astype(np.uint8)
    board[:2], board[-2:], board[:, :2], board[:, -2:] = 255, 255, 255, 255
    return board


def _holds_canary(folder: Path) -> list[str]:
    """Every place under `folder` where the canary is: its text chunk, its file name or its raw pixels in
    any file's bytes, or its pixels in any decoded PNG or NPZ image."""
    from PIL import Image

    canary, found = _canary_image(), []
    for path in (p for p in folder.rglob("*") if p.is_file()):
        raw = path.read_bytes() + str(path.relative_to(folder)).encode()
        found += [f"{path}: {what}" for what, needle in (("text", CANARY_TEXT), ("name", b"canary_5521"),
                                                         ("pixels", canary.tobytes())) if needle in raw]
        if path.suffix == ".png":
            with Image.open(path) as im:
                if np.array_equal(np.asarray(im.convert("L")), canary):
                    found.append(f"{path}: decoded image")
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                found += [f"{path}: {k}" for k in npz.files if npz[k].dtype == np.uint8 and npz[k].ndim >= 3
                          and (npz[k].reshape(len(npz[k]), -1) == canary.reshape(1, -1)).all(axis=1).any()]
    return found


def test_image_folder_publishes_pngs_labels_and_medmnist_npz(spec_file, digit_folder, tmp_path):
    """... and a canary image planted in the real folder (a unique pattern, a PNG text chunk, a unique file
    name) is in no byte of the published folder, nor in any image decoded from it."""
    from PIL import Image, PngImagePlugin

    source = tmp_path / "digits"
    shutil.copytree(digit_folder, source)
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", CANARY_TEXT.decode())
    Image.fromarray(_canary_image()).save(source / "digit3" / "canary_5521.png", pnginfo=info)
    leak = tmp_path / "leak"                         # the known-bad side: the search finds it where it is
    shutil.copytree(source / "digit3", leak)
    np.savez(leak / "data.npz", train_images=np.stack([_canary_image()] * 2)[..., None])
    assert {f.rsplit(": ", 1)[1] for f in _holds_canary(leak)} == {"text", "name", "pixels", "decoded image",
                                                                   "train_images"}
    spec = spec_file(image_spec({"path": str(source)}))
    final = pipeline.run_pipeline(spec, out=tmp_path / "out")
    assert _holds_canary(final) == []
    labels = pl.read_parquet(final / "labels.parquet")
    assert labels.columns == ["file", "label", "seed"] and labels.height == 60
    assert labels.get_column("label").value_counts().get_column("count").to_list() == [20, 20, 20]
    assert all((final / f).is_file() for f in labels.get_column("file"))
    assert sorted(p.name for p in (final / "images").iterdir()) == ["digit3", "digit5", "digit8"]
    with np.load(final / "data.npz", allow_pickle=False) as npz:
        assert npz["train_images"].shape == (60, 28, 28) and npz["train_images"].dtype == np.uint8
        assert npz["train_labels"].shape == (60, 1)
        assert list(npz["label_names"]) == ["digit3", "digit5", "digit8"]
    card = json.loads((final / "card.json").read_text())
    assert card["modality"] == "image" and card["model"]["timings"]["images_per_s"] > 0
    assert 0.0 <= card["model"]["timings"]["d_loss_low_share"] <= 1.0        # the wasted-start measure
    assert "d_loss_low_share" in (final / "card.md").read_text()
    html = (final / "report.html").read_text()
    assert "Training losses" in html and "https://" not in html and "won outright" in html
    # real images are never in the published folder: the comparisons are in the private review report
    assert "Nearest synthetic/training pairs" not in html and "private review report" in html
    review = Path(card["review_report"])
    assert review.is_file() and final not in review.parents and review.parent.parent.name == "review"
    assert review.parent.parent.stat().st_mode & 0o777 == 0o700
    assert "Nearest synthetic/training pairs" in review.read_text() and "do not share" in review.read_text()
    assert not list(final.rglob("train.npz")) and not list(final.rglob("holdout.npz"))
    assert not (tmp_path / "out" / ".staging" / "checkpoints" / "digits_tiny").exists()


def test_asking_for_a_class_that_does_not_exist(spec_file, digit_folder, tmp_path):
    spec = spec_file(image_spec({"path": str(digit_folder)}, sample={"per_class": {"digit7": 5}}))
    with pytest.raises(InputError, match=r"\['digit7'\] do not exist"):
        pipeline.run_pipeline(spec, out=tmp_path / "out")
    assert not (tmp_path / "out" / "digits_tiny").exists()


def test_bad_augmentation_is_refused_before_training(spec_file, digit_folder, tmp_path):
    bad = {"__class_fullname__": "Compose",
           "transforms": [{"__class_fullname__": "ElasticTransform", "alpha_affine": 3}]}
    spec = spec_file(image_spec({"path": str(digit_folder)}, augment=bad))
    with pytest.raises(InputError, match="alpha_affine"):
        pipeline.run_pipeline(spec, out=tmp_path / "out")


def test_failing_gate_quarantines_images(spec_file, digit_folder, tmp_path):
    spec = spec_file(image_spec({"path": str(digit_folder)}, gates={**LOOSE, "label_fidelity_ratio": 0.99}))
    with pytest.raises(GateFailed, match="label_fidelity_ratio"):
        pipeline.run_pipeline(spec, out=tmp_path / "out")
    # no version under the dataset path: only the private review report of the refused version
    assert [p.name for p in (tmp_path / "out" / "digits_tiny").iterdir()] == ["review"]
    (quarantined,) = (tmp_path / "out" / "_quarantine" / "digits_tiny").iterdir()
    assert (quarantined / "reasons.json").exists() and (quarantined / "images").is_dir()
    assert (tmp_path / "out" / "digits_tiny" / "review" / quarantined.name / "report.html").is_file()


def test_dicom_headers_never_reach_the_outputs(spec_file, tmp_path):
    import pydicom

    files = Path(pydicom.__file__).parent / "data" / "test_files"
    for cls, name in (("ct", "CT_small.dcm"), ("mr", "MR_small.dcm")):
        (tmp_path / "scans" / cls).mkdir(parents=True)
        for i in range(4):
            shutil.copy(files / name, tmp_path / "scans" / cls / f"{i}.dcm")
    secrets = set()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        ds = pydicom.dcmread(files / name)
        secrets |= {str(ds.PatientName), str(ds.StudyInstanceUID), str(ds.SOPInstanceUID)}
    secrets = {s for s in secrets if len(s) > 3}
    spec = spec_file(image_spec({"path": "scans", "format": "dicom"}, image={"size": 32},
                                sample={"rows": 8, "balance": True}, gates={**LOOSE, "memorization_share": None},
                                split={"holdout": 0.25, "min_class_rows": 2}))
    final = pipeline.run_pipeline(spec, out=tmp_path / "out")
    for path in final.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in blob, (secret, path)
