"""Bad input is refused before training, with the file/column at fault named."""

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from synthgen.data import prepare_table, split_table
from synthgen.errors import InputError
from synthgen.sources import read_table
from synthgen.spec import SourceSpec


def _read(path: Path):
    return read_table(SourceSpec(path=str(path)), path.parent)


def _prepare(frame, label="y", **kw):
    return prepare_table(frame, label=label, overrides=kw.pop("overrides", {}), origin="t.csv", **kw)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(InputError, match=r"nope\.csv: source file not found"):
        _read(tmp_path / "nope.csv")


def test_csv_and_parquet_give_the_same_table_and_a_fingerprint(tmp_path):
    frame = pl.DataFrame({"a": [1.5, 2.5, 3.5], "y": ["u", "v", "u"]})
    frame.write_csv(tmp_path / "t.csv")
    frame.write_parquet(tmp_path / "t.parquet")
    csv, info_csv = _read(tmp_path / "t.csv")
    pq, info_pq = _read(tmp_path / "t.parquet")
    assert csv.equals(pq)
    assert info_csv.fingerprint.startswith("sha256:") and info_csv.fingerprint != info_pq.fingerprint
    assert info_pq.rows == 3 and info_pq.kind == "parquet"


def test_unreadable_file_and_unknown_builtin(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(InputError, match=r"bad\.parquet: cannot read as parquet"):
        _read(bad)
    with pytest.raises(InputError, match="unknown built-in table 'nope'.*arrests"):
        read_table(SourceSpec(builtin="nope"), tmp_path)


def test_empty_table(tmp_path):
    (tmp_path / "e.csv").write_text("a,y\n")
    frame, _ = _read(tmp_path / "e.csv")
    with pytest.raises(InputError, match="no rows"):
        _prepare(frame)


def test_absent_label_column_lists_columns():
    with pytest.raises(InputError, match=r"label column 'y' not found.*\['a', 'b'\]"):
        _prepare(pl.DataFrame({"a": [1, 2], "b": ["x", "z"]}))


def test_single_class_label():
    with pytest.raises(InputError, match="single class"):
        _prepare(pl.DataFrame({"a": [1.0, 2.0], "y": ["k", "k"]}))


def test_rows_without_a_label_are_dropped_and_counted():
    table = _prepare(pl.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0], "y": ["k", None, "j", "k", "j"]}))
    assert len(table) == 4 and table.frame.get_column("y").null_count() == 0
    assert any("1 row(s) without a label dropped" in w for w in table.warnings)


def test_a_mostly_null_label_is_refused_naming_the_count():
    with pytest.raises(InputError, match="label column 'y' is null in 2 of 3 rows"):
        _prepare(pl.DataFrame({"a": [1.0, 2.0, 3.0], "y": ["k", None, None]}))


def test_all_null_column_is_named():
    frame = pl.DataFrame({"a": [1.0, 2.0], "empty": [None, None], "y": ["k", "j"]})
    with pytest.raises(InputError, match=r"column 'empty' is entirely null.*columns\.empty\.type: drop"):
        _prepare(frame)
    assert "empty" not in _prepare(frame, overrides={"empty": "drop"}).columns


def test_near_unique_categorical_is_refused():
    """Measured: CTGAN copied 98.8% of a near-unique column's values when it was typed categorical."""
    n = 400
    frame = pl.DataFrame({"id": [f"p{i}" for i in range(n)], "x": [float(i % 7) for i in range(n)],
                          "y": ["a", "b"] * (n // 2)})
    with pytest.raises(InputError, match=r"column 'id' is typed categorical but has 400 distinct"):
        _prepare(frame)
    ints = frame.with_columns(pl.Series("id", list(range(n))))
    with pytest.raises(InputError, match="column 'id'"):
        _prepare(ints, overrides={"id": "categorical"})
    assert _prepare(ints).kinds["id"] == "numeric"


def test_wrong_override_types_and_unknown_override_column():
    frame = pl.DataFrame({"a": ["x", "z"], "y": ["k", "j"]})
    with pytest.raises(InputError, match="column 'a' is typed numeric but holds String"):
        _prepare(frame, overrides={"a": "numeric"})
    with pytest.raises(InputError, match=r"\['nope'\].*not in the table"):
        _prepare(frame, overrides={"nope": "numeric"})


def test_kind_inference_and_stratified_split():
    start = datetime(2020, 1, 1)
    n = 200
    frame = pl.DataFrame({
        "f": [i * 0.5 for i in range(n)], "small_int": [i % 4 for i in range(n)],
        "when": [start + timedelta(days=i) for i in range(n)], "flag": [i % 3 == 0 for i in range(n)],
        "y": ["a"] * 150 + ["b"] * 50,
    })
    table = _prepare(frame)
    assert table.kinds == {"f": "numeric", "small_int": "categorical", "when": "datetime",
                           "flag": "categorical", "y": "categorical"}
    train, hold = split_table(table, holdout=0.2, random_state=0)
    assert len(train) + len(hold) == n
    assert hold.class_counts() == {"a": 30, "b": 10}
    again, _ = split_table(table, holdout=0.2, random_state=0)
    assert again.frame.equals(train.frame)



def _table(text, tmp_path, name):
    from synthgen.sources import read_table
    from synthgen.spec import SourceSpec

    (tmp_path / name).write_text(text)
    return read_table(SourceSpec(path=name), tmp_path)


@pytest.mark.parametrize("name,sep", [("t.txt", ","), ("t.tsv", "\t"), ("t.data", ";"), ("t.dat", "|")])
def test_delimited_text_with_any_suffix_is_read_as_csv(tmp_path, name, sep):
    text = sep.join(["a", "b", "label"]) + "\n" + "".join(sep.join([str(i), f"{i * 0.5}", "xy"[i % 2]]) + "\n"
                                                      for i in range(30))
    frame, info = _table(text, tmp_path, name)
    assert frame.columns == ["a", "b", "label"] and frame.height == 30
    assert info.kind == "csv"
    assert (sep == ",") == (not info.notes)  # a sniffed separator other than ',' is recorded


def test_inf_is_treated_as_missing_and_counted(tmp_path):
    from synthgen.data import prepare_table

    text = "x,y,label\n" + "".join(f"{'inf' if i == 3 else '-inf' if i == 5 else i},{i % 4},{'ab'[i % 2]}\n"
                                     for i in range(40))
    frame, _ = _table(text, tmp_path, "t.csv")
    table = prepare_table(frame, label="label", overrides={}, origin="t.csv")
    assert table.frame.get_column("x").null_count() == 2
    assert any("column 'x': 2 inf/-inf" in w for w in table.warnings)


@pytest.mark.parametrize("policy", ["drop", "merge"])
def test_rare_classes_are_dropped_or_merged_when_asked_and_recorded(tmp_path, policy):
    from synthgen.data import prepare_table

    labels = ["a"] * 30 + ["b"] * 30 + ["r1"] * 3 + ["r2"] * 8
    frame = pl.DataFrame({"x": list(range(len(labels))), "label": labels})
    table = prepare_table(frame, label="label", overrides={}, origin="t", min_class_rows=10, rare_classes=policy)
    counts = table.class_counts()
    assert set(counts) == ({"a", "b"} if policy == "drop" else {"a", "b", "other"})
    if policy == "merge":
        assert counts["other"] == 11
    assert any(policy[:4] in w and "'r1' (3)" in w for w in table.warnings)
    with pytest.raises(InputError, match=r"'r1' \(3\), 'r2' \(8\).*split.rare_classes=drop"):
        prepare_table(frame, label="label", overrides={}, origin="t", min_class_rows=10)


def test_npz_pools_the_listed_splits_it_has_and_says_which(tmp_path):
    import numpy as np

    from synthgen.sources.images import read_images
    from synthgen.spec import ImageShapeSpec, ImageSourceSpec

    np.savez(tmp_path / "only_test.npz", test_images=np.zeros((12, 8, 8), np.uint8),
             test_labels=(np.arange(12) % 2)[:, None])
    data, info = read_images(ImageSourceSpec(path="only_test.npz"), ImageShapeSpec(), tmp_path)
    assert len(data) == 12
    assert info.notes == ("npz splits pooled: test (not in the file: train, val)",)
