"""Bad input, one case per way a user's data or spec can be wrong: every case exits 2, names the file,
key, column or class at fault, prints no traceback and writes nothing under the output folder.
In-process (`cli.main`, --no-prefect): the whole corpus costs about a minute."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import yaml

from synthgen.cli import main

ARRESTS_CSV = None


def _arrests(tmp: Path, n: int = 400) -> Path:
    from synthgen.sources.builtin import BUILTIN_TABLES

    path = tmp / "arrests.csv"
    BUILTIN_TABLES["arrests"].load().head(n).write_csv(path)
    return path


def _table_spec(tmp: Path, source: dict, **extra) -> Path:
    spec = {"modality": "tabular", "name": "bad", "source": source, "label": extra.pop("label", "released"),
            "model": {"name": "ctgan", "epochs": 1, "batch_size": 100, "embedding_dim": 8,
                      "generator_dim": [8], "discriminator_dim": [8]}, **extra}
    path = tmp / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _image_spec(tmp: Path, source: dict, **extra) -> Path:
    spec = {"modality": "image", "name": "bad", "source": source,
            "model": {"name": "conditional_gan", "epochs": 1, "latent_dim": 8, "base_channels": 4}, **extra}
    path = tmp / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _csv(tmp: Path, text: str, name: str = "t.csv") -> Path:
    (tmp / name).write_text(text)
    return tmp / name


def _rows(n: int, label=lambda i: "a" if i % 2 else "b", extra=lambda i: f"{i % 7}") -> str:
    return "x,y,label\n" + "".join(f"{i % 13},{extra(i)},{label(i)}\n" for i in range(n))


def _png_folder(tmp: Path, classes: dict[str, int], size=(8, 8), mode="L") -> Path:
    from PIL import Image

    root = tmp / "imgs"
    for cls, n in classes.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(np.full((*size, 3) if mode == "RGB" else size, (i * 17) % 255, np.uint8), mode).save(
                root / cls / f"{i}.png")
    return root


def _npz(tmp: Path, **arrays) -> Path:
    path = tmp / "data.npz"
    np.savez(path, **arrays)
    return path


IMG = np.zeros((30, 8, 8), np.uint8)
LAB = (np.arange(30) % 2)[:, None]


def case_missing_source(tmp):
    return ["run", str(_table_spec(tmp, {"path": "nope.csv"}))], "nope.csv"


def case_label_missing(tmp):
    return ["run", str(_table_spec(tmp, {"path": str(_arrests(tmp))}, label="nope"))], "'nope'"


def case_label_nulls(tmp):
    return ["run", str(_table_spec(tmp, {"path": str(_csv(tmp, _rows(40, label=lambda i: "" if i % 3 else "ab"[i % 2])))},
                                   label="label"))], "is null in 26 of 40 rows"


def case_single_class(tmp):
    return ["run", str(_table_spec(tmp, {"path": str(_csv(tmp, _rows(40, label=lambda i: "a")))}, label="label"))], \
        "single class"


def case_all_null_column(tmp):
    return ["run", str(_table_spec(tmp, {"path": str(_csv(tmp, _rows(40, extra=lambda i: "")))}, label="label"))], \
        "column 'y' is entirely null"


def case_near_unique_category(tmp):
    return ["run", str(_table_spec(tmp, {"path": str(_csv(tmp, _rows(60, extra=lambda i: f"id{i}")))}, label="label"))], \
        "column 'y' is typed categorical"


def case_rare_class(tmp):
    text = _rows(300, label=lambda i: "rare" if i == 7 else "ab"[i % 2])
    return ["run", str(_table_spec(tmp, {"path": str(_csv(tmp, text))}, label="label"))], "'rare' (1)"


def case_rare_classes_merge_still_too_few(tmp):
    text = _rows(300, label=lambda i: "r1" if i == 7 else "r2" if i == 8 else "ab"[i % 2])
    return ["run", str(_table_spec(tmp, {"path": str(_csv(tmp, text))}, label="label")),
            "--set", "split.rare_classes=merge"], "merging the rare classes"


def case_unknown_table_format(tmp):
    (tmp / "t.xyz").write_bytes(bytes(range(256)) * 4)
    return ["run", str(_table_spec(tmp, {"path": str(tmp / "t.xyz")}))], "unknown table format"


def case_header_only_csv(tmp):
    return ["run", str(_table_spec(tmp, {"path": str(_csv(tmp, "x,y,label\n"))}, label="label"))], "no rows"


def case_numeric_override_on_text(tmp):
    text = "x,y,label\n" + "".join(f"{i},{'abc'[i % 3]},{'ab'[i % 2]}\n" for i in range(40))
    return ["run", str(_table_spec(tmp, {"path": str(_csv(tmp, text))}, label="label",
                                   columns={"y": {"type": "numeric"}}))], "column 'y' is typed numeric"


def case_override_unknown_column(tmp):
    return ["run", str(_table_spec(tmp, {"path": str(_arrests(tmp))}, columns={"ghost": {"type": "drop"}}))], \
        "['ghost']"


def case_drop_the_label(tmp):
    return ["run", str(_table_spec(tmp, {"path": str(_arrests(tmp))}, columns={"released": {"type": "drop"}}))], \
        "label column 'released' cannot be dropped"


def case_corrupt_parquet(tmp):
    (tmp / "t.parquet").write_bytes(b"not parquet at all")
    return ["run", str(_table_spec(tmp, {"path": str(tmp / "t.parquet")}))], "t.parquet: cannot read as parquet"


def case_unknown_builtin_table(tmp):
    return ["run", str(_table_spec(tmp, {"builtin": "no_such_table"}))], "no_such_table"


def case_empty_class_folder(tmp):
    root = _png_folder(tmp, {"a": 12, "b": 12})
    (root / "c").mkdir()
    return ["run", str(_image_spec(tmp, {"path": str(root)}))], "class folder 'c' is empty"


def case_corrupt_png(tmp):
    root = _png_folder(tmp, {"a": 12, "b": 12})
    (root / "a" / "broken.png").write_bytes(b"\x89PNG garbage")
    return ["run", str(_image_spec(tmp, {"path": str(root)}))], "broken.png"


def case_not_an_image_file(tmp):
    root = _png_folder(tmp, {"a": 12, "b": 12})
    (root / "b" / "notes.docx").write_text("hello")
    return ["run", str(_image_spec(tmp, {"path": str(root)}))], "notes.docx"


def case_one_image_class(tmp):
    return ["run", str(_image_spec(tmp, {"path": str(_png_folder(tmp, {"a": 12}))}))], "at least two classes"


def case_rare_image_class(tmp):
    return ["run", str(_image_spec(tmp, {"path": str(_png_folder(tmp, {"a": 12, "b": 3}))}))], "'b' (3)"


def case_mixed_channels(tmp):
    root = _png_folder(tmp, {"a": 12, "b": 12})
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8), "RGB").save(root / "a" / "rgb.png")
    return ["run", str(_image_spec(tmp, {"path": str(root)}))], "differ in"


def case_npz_without_listed_splits(tmp):
    return ["run", str(_image_spec(tmp, {"path": str(_npz(tmp, other_images=IMG, other_labels=LAB))}))], \
        "none of source.npz_splits"


def case_npz_images_without_labels(tmp):
    return ["run", str(_image_spec(tmp, {"path": str(_npz(tmp, train_images=IMG))}))], "'train_labels'"


def case_npz_length_mismatch(tmp):
    return ["run", str(_image_spec(tmp, {"path": str(_npz(tmp, train_images=IMG, train_labels=LAB[:20]))}))], \
        "must match one to one"


def case_npz_float_pixels(tmp):
    return ["run", str(_image_spec(tmp, {"path": str(_npz(tmp, train_images=IMG.astype(np.float32),
                                                                train_labels=LAB))}))], "'train_images' is float32"


def case_not_an_npz(tmp):
    (tmp / "fake.npz").write_text("plain text")
    return ["run", str(_image_spec(tmp, {"path": str(tmp / "fake.npz")}))], "fake.npz: not a numpy .npz archive"


def case_not_a_dicom(tmp):
    folder = tmp / "scans"
    folder.mkdir()
    (folder / "scan.dcm").write_bytes(b"\x00" * 200)
    return ["run", str(_image_spec(tmp, {"path": str(folder / "scan.dcm"), "format": "dicom"}))], "scan.dcm"


def case_corrupt_nifti(tmp):
    (tmp / "vol.nii.gz").write_bytes(gzip.compress(b"not a nifti header"))
    return ["run", str(_image_spec(tmp, {"path": str(tmp / "vol.nii.gz")}))], "vol.nii.gz"


def case_unknown_spec_key(tmp):
    path = _table_spec(tmp, {"builtin": "arrests"}, modle={})
    return ["run", str(path)], "modle: unknown key"


def case_wrong_type(tmp):
    return ["run", str(_table_spec(tmp, {"builtin": "arrests"}, split={"holdout": "lots"}))], "split.holdout"


def case_bad_modality(tmp):
    path = tmp / "spec.yaml"
    path.write_text(yaml.safe_dump({"modality": "audio", "name": "bad"}))
    return ["check", str(path)], "modality"


def case_spec_not_a_mapping(tmp):
    path = tmp / "spec.yaml"
    path.write_text("- just\n- a list\n")
    return ["run", str(path)], "must be a YAML mapping"


def case_invalid_yaml(tmp):
    path = tmp / "spec.yaml"
    path.write_text("modality: [tabular\n")
    return ["run", str(path)], "not valid YAML"


def case_spec_missing(tmp):
    return ["run", str(tmp / "none.yaml")], "none.yaml: spec file not found"


def case_unknown_gate(tmp):
    return ["check", str(_image_spec(tmp, {"builtin": "mnist"}, gates={"tstr_ratio": 0.7}))], \
        "gates.tstr_ratio: unknown key"


def case_path_and_builtin(tmp):
    return ["run", str(_table_spec(tmp, {"builtin": "arrests", "path": "x.csv"}))], "exactly one of"


def case_set_without_equals(tmp):
    return ["run", str(_table_spec(tmp, {"builtin": "arrests"})), "--set", "model.epochs"], "KEY=VALUE"


def case_set_bad_yaml(tmp):
    return ["run", str(_table_spec(tmp, {"builtin": "arrests"})), "--set", "model.epochs=[1"], "not valid YAML"


def case_set_into_scalar(tmp):
    return ["run", str(_table_spec(tmp, {"builtin": "arrests"})), "--set", "label.x=1"], "`label` is not a mapping"


def case_set_out_of_range(tmp):
    return ["check", str(_table_spec(tmp, {"builtin": "arrests"})), "--set", "model.epochs=-1"], "model.epochs"


def case_set_unknown_generator(tmp):
    return ["check", str(_table_spec(tmp, {"builtin": "arrests"})), "--set", "model.name=tvae"], "model"


def case_screen_input_missing_column(tmp):
    spec = _table_spec(tmp, {"path": str(_arrests(tmp, 300))})
    bad = _csv(tmp, "colour,age\nWhite,20\n", "new.csv")
    return ["screen", str(spec), "--input", str(bad), "--no-prefect", "--set", "screen={scorer: {name: knn}}"], \
        "columns ["


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_exits_2_naming_the_fault_and_writes_nothing(name, tmp_path, capsys):
    out = tmp_path / "out"
    argv, expected = CASES[name](tmp_path)
    if argv[0] == "run":
        argv = [*argv, "--no-prefect", "--quiet", "--out", str(out)]
    elif argv[0] == "screen":
        argv = [*argv, "--out", str(out / "screening"), "--datasets", str(out)]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert expected in err, err
    assert "Traceback" not in err
    written = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert not written, written
