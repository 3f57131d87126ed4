"""augment_dataset_flow under prefect_test_harness: the same library path, as tasks + artifacts."""

import json

import pytest

from flows.augment import augment_dataset_flow
from synthgen.errors import GateFailed
from tests.conftest import small_spec, tiny_spec


def _artifact(key):
    from prefect.artifacts import Artifact

    return Artifact.get(key)


def test_flow_publishes_and_leaves_artifacts(spec_file, tmp_path, validations):
    out = tmp_path / "out"
    state = augment_dataset_flow(str(spec_file(tiny_spec())), [], str(out), return_state=True)
    assert state.is_completed()
    ended = state.result()
    assert ended.status == "published" and ended.exit_code == 0
    # the spec is validated once for the whole run and carried in its record through every task
    assert len(validations) == 1, validations
    final = ended.final
    card = json.loads((out / "arrests_tiny" / final.split("/")[-1] / "card.json").read_text())
    assert card["verdict"]["passed"]
    assert [c["name"] for c in card["candidates"]] == ["ctgan"] and card["chosen_by"]["chosen"] == 0
    assert {"load-data", "train-generator", "select-generator", "generate", "validate", "write-report"} <= set(card["tasks"])
    summary = _artifact("arrests-tiny-summary")
    assert summary is not None and "published" in summary.data
    table = _artifact("arrests-tiny-metrics")
    assert table is not None and "dcr_share" in table.data
    link = _artifact("arrests-tiny-dataset")
    assert link is not None and final in link.data
    catalog = _artifact("synthgen-catalog")            # the output folder's catalogue, as the page lists it
    assert catalog is not None and final.split("/")[-1] in catalog.data and "published LATEST" in catalog.data
    assert (out / "index.html").is_file() and final.split("/")[-1] in (out / "index.html").read_text()


def test_flow_refuses_on_failed_gate(spec_file, tmp_path):
    out = tmp_path / "out"
    state = augment_dataset_flow(str(spec_file(tiny_spec())), ["gates.quality_score=0.9999"], str(out),
                                 return_state=True)
    assert state.is_failed()
    with pytest.raises(GateFailed, match="quality_score"):
        state.result()
    assert not (out / "arrests_tiny").exists()
    assert len(list((out / "_quarantine" / "arrests_tiny").iterdir())) == 1
    summary = _artifact("arrests-tiny-summary")
    assert "REFUSED" in summary.data
    refused = next((out / "_quarantine" / "arrests_tiny").iterdir()).name
    catalog = _artifact("synthgen-catalog")            # a refusal is in the catalogue too, with its failing gate
    assert refused in catalog.data and "refused" in catalog.data
    assert refused in (out / "index.html").read_text() and "quality_score" in (out / "index.html").read_text()


def test_the_python_api_runs_a_dict_spec_as_the_prefect_flow(tmp_path):
    import synthgen

    result = synthgen.run(tiny_spec(), out=tmp_path / "out", prefect=True, base_dir=tmp_path)
    assert result.status == "published" and result.path.parent.name == "arrests_tiny"
    assert result.card["spec"]["name"] == "arrests_tiny" and result.data().height == 600
    assert set(result.card["tasks"]) >= {"load-data", "train-generator", "validate"}   # ran as Prefect tasks
    again = synthgen.run(tiny_spec(), out=tmp_path / "out", prefect=True, base_dir=tmp_path)
    assert again.status == "unchanged" and again.version == result.version
    with pytest.raises(GateFailed) as refused:          # the flow's refusal is the CLI's exception, as without Prefect
        synthgen.run(tiny_spec(), overrides=["gates.quality_score=0.9999"], out=tmp_path / "out", prefect=True,
                     force=True)
    assert refused.value.result.status == "refused" and "quality_score" in refused.value.result.next_steps


def test_image_flow_publishes_a_labeled_image_set(spec_file, tmp_path):
    from tests.conftest import TINY_GAN

    spec = {"modality": "image", "name": "mnist_tiny", "source": {"builtin": "mnist"},
            "model": {"name": "conditional_gan", **TINY_GAN, "epochs": 1},
            "sample": {"rows": 100, "balance": True},
            "gates": {"label_fidelity_ratio": None, "fd_ratio": None, "coverage": None, "tstr_chance_ratio": None,
                      "augmentation_no_harm": None},
            "validation": {"classifier_epochs": 1, "max_images": 300, "min_steps": 40},
            "screen": {"normal_classes": ["0"], "scorer": {"name": "fanogan", "encoder_epochs": 1}, "top_k": 4}}
    out = tmp_path / "out"
    path = spec_file(spec)
    state = augment_dataset_flow(str(path), [], str(out), return_state=True)
    assert state.is_completed(), state
    final = state.result().final
    card = json.loads((out / "mnist_tiny" / final.split("/")[-1] / "card.json").read_text())
    assert card["modality"] == "image" and card["class_counts"]["synthetic"] == {str(d): 10 for d in range(10)}
    assert _artifact("mnist-tiny-metrics") is not None

    # train once, use twice: the scorer ships with the dataset, the holdout screening goes beside it
    assert (out / "mnist_tiny" / final.split("/")[-1] / "scorer" / "scorer.json").is_file()
    screened = card["screening"]
    assert screened["normal_classes"] == ["0"] and screened["n"] == 1000 and 0 <= screened["auroc"] <= 1
    assert "flagged" in _artifact("mnist-tiny-screening").data

    # screen_dataset_flow reuses the published scorer and screens the spec's holdout again
    from flows.screen import screen_dataset_flow

    again = screen_dataset_flow(str(path), datasets=str(out), out=str(tmp_path / "screen"))
    assert again["scorer_origin"].startswith("published") and again["n"] == 1000
    assert again["threshold"] == screened["threshold"]
    assert {p.name for p in (tmp_path / "screen").iterdir()} == {"scores.parquet", "summary.json", "report.html"}


def test_many_specs_run_as_prefect_tasks_on_a_dask_cluster(spec_file, tmp_path):
    """prefect-dask's DaskTaskRunner on a real two-process LocalCluster: one task per spec, each on a
    worker, with the outcome (a refusal too) coming back as data and a table artifact."""
    from flows.augment import augment_many_flow
    from synthgen.cluster import cluster

    out = str(tmp_path / "out")
    jobs = [(str(spec_file(small_spec(), "a.yaml")), [], out),
            (str(spec_file(small_spec(name="hearts_tiny_b"), "b.yaml")), ["gates.quality_score=0.9999"], out)]
    with cluster(workers=2) as client:
        outcomes = augment_many_flow(jobs, address=client.scheduler.address)
    assert [(o.status, o.exit_code) for o in outcomes] == [("published", 0), ("refused", 3)]
    assert "quality_score" in outcomes[1].message
    assert all(o.worker != "local" for o in outcomes)
    card = json.loads((tmp_path / "out" / "hearts_tiny" / outcomes[0].final.split("/")[-1] / "card.json").read_text())
    assert card["verdict"]["passed"] and card["tasks"]["train-generator"] == outcomes[0].worker
    table = _artifact("augment-many")
    assert table is not None and "b.yaml" in table.data and "\"exit_code\": 3" in table.data


def test_sample_flow_publishes_a_new_version_from_the_published_model(spec_file, tmp_path):
    from flows.sample import sample_dataset_flow

    out = tmp_path / "out"
    first = augment_dataset_flow(str(spec_file(small_spec())), [], str(out)).final
    final = sample_dataset_flow("hearts_tiny", str(out), rows=120, seed=4)
    card = json.loads((out / "hearts_tiny" / final.split("/")[-1] / "card.json").read_text())
    assert card["rows"] == 120 and card["sampled_from"]["model_of"] == first.split("/")[-1]
    assert _artifact("hearts-tiny-sample") is not None
    # and an unchanged scheduled run is a no-op with an artifact, not a failure
    state = augment_dataset_flow(str(spec_file(small_spec(), "again.yaml")), [], str(out), return_state=True)
    assert state.is_completed() and state.result().status == "unchanged" and state.result().final == first
    assert "unchanged" in _artifact("hearts-tiny-unchanged").data
