"""Dataset specs: the one place that knows the YAML shape.

A spec is one YAML file per dataset (see schemas/). It is validated by the pydantic models below;
unknown keys and wrong types are errors that name the key and the file. `--set a.b=value`
overrides any value before validation, so overrides are validated exactly like the file.
The JSON Schema in schemas/spec.schema.json is generated from these models (`synthgen schema`).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from synthgen.errors import InputError


class _YAML12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. YAML 1.1 reads a class called `Yes` or `No` as a bool."""


_YAML12Loader.yaml_implicit_resolvers = {
    key: [r for r in resolvers if r[0] != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YAML12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_yaml(text: str):
    return yaml.load(text, Loader=_YAML12Loader)  # noqa: S506 - a SafeLoader subclass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class _OneSource(_Strict):
    """A source is either a path or a built-in data set, never both."""

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.builtin is None):
            raise ValueError("give exactly one of source.path or source.builtin")
        return self


class SourceSpec(_OneSource):
    """Where the real data comes from: a CSV/Parquet file or a table that ships inside a package."""

    path: str | None = Field(
        None, description="CSV or Parquet file; a relative path is resolved against the spec file's folder."
    )
    builtin: str | None = Field(None, description="Name of a built-in real table (see `synthgen builtins`).")
    format: Literal["csv", "parquet"] | None = Field(None, description="Defaults to the file suffix.")
    separator: str = Field(",", description="CSV field separator.")



ColumnType = Literal["numeric", "categorical", "datetime", "drop"]


class ColumnSpec(_Strict):
    type: ColumnType = Field(description="Override the inferred type; `drop` removes the column.")


class SplitSpec(_Strict):
    """The holdout is never seen by the generator; every fidelity and privacy metric uses it."""

    holdout: float = Field(0.2, gt=0.0, lt=1.0, description="Share of real rows held out.")
    random_state: int = 0
    stratify: bool = Field(True, description="Keep class shares equal in train and holdout.")


class CTGANModelSpec(_Strict):
    """CTGAN (ctgan package) behind synthgen's generator contract."""

    name: Literal["ctgan"] = "ctgan"
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(500, ge=2, description="Must be even and a multiple of pac.")
    embedding_dim: int = Field(128, ge=1)
    generator_dim: list[int] = Field(default_factory=lambda: [256, 256])
    discriminator_dim: list[int] = Field(default_factory=lambda: [256, 256])
    generator_lr: float = Field(2e-4, gt=0)
    discriminator_lr: float = Field(2e-4, gt=0)
    discriminator_steps: int = Field(1, ge=1)
    pac: int = Field(10, ge=1)
    log_frequency: bool = True
    gmm_fit_rows: int | None = Field(
        5000,
        ge=100,
        description="Fit each column's mode-specific normaliser (Bayesian GMM) on at most this many "
        "rows; null = all rows (ctgan's own behaviour, 5-10x slower on large tables).",
    )
    random_state: int = 0
    threads: int = Field(1, ge=1, description="torch threads for training (cores / concurrent jobs).")
    device: Literal["auto", "cpu", "cuda"] = "cpu"

    @model_validator(mode="after")
    def _batch(self) -> "CTGANModelSpec":  # noqa: D102
        if self.batch_size % 2 or self.batch_size % self.pac:
            raise ValueError(f"batch_size={self.batch_size} must be even and a multiple of pac={self.pac}")
        return self


class SampleSpec(_Strict):
    """How many labeled rows to emit. Counts per class are exact (condition, then filter)."""

    rows: int | None = Field(
        None, ge=1, description="Total rows; default = size of the training split."
    )
    per_class: dict[str, int] | None = Field(
        None, description="Exact rows per class (class value as text); other classes share `rows`."
    )
    balance: bool = Field(False, description="Split `rows` evenly over the classes.")
    max_rounds: int = Field(
        200, ge=1, description="Bound of the condition-and-filter loop: batches tried per class."
    )
    random_state: int = 0

    @field_validator("per_class", mode="before")
    @classmethod
    def _class_names_as_text(cls, value):
        # class values are matched as text: `0: 100` in YAML means the class "0"
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _counts(self) -> "SampleSpec":
        if self.per_class is not None:
            bad = {k: v for k, v in self.per_class.items() if v < 0}
            if bad:
                raise ValueError(f"per_class counts must be >= 0, got {bad}")
        if self.balance and self.per_class:
            raise ValueError("use either balance or per_class, not both")
        return self


class TabularGates(_Strict):
    """Gate thresholds by metric name (null disables a gate). Directions come from the metrics."""

    gx_success_rate: float | None = Field(0.8, description="min share of GX expectations met")
    quality_score: float | None = Field(0.75, description="min mean of column shapes and pair trends")
    detection_auc: float | None = Field(0.95, description="max AUROC of a real-vs-synthetic classifier")
    tstr_signal_ratio: float | None = Field(
        0.5, description="min (TSTR AUROC - 0.5) / (TRTR AUROC - 0.5) on the holdout"
    )
    augmentation_uplift: float | None = Field(
        None, description="min change in holdout AUROC from adding synthetic rows to the real ones"
    )
    exact_copy_excess: float | None = Field(
        0.02, description="max share of synthetic rows equal to a train row, minus the holdout's rate"
    )
    dcr_share: float | None = Field(0.6, description="max P(d(syn, train) < d(syn, holdout))")
    close_to_train_share: float | None = Field(
        0.1, description="max share of synthetic rows closer to train than the holdout's 5th percentile"
    )
    mia_auroc: float | None = Field(0.6, description="max AUROC of the membership-inference ensemble")
    rare_value_excess: float | None = Field(
        0.1, description="max per-column share of train-only minus holdout-only rare values reproduced"
    )


class ValidationSpec(_Strict):
    max_rows: int = Field(
        20000, ge=100, description="Privacy and detection metrics use at most this many rows per side."
    )
    near_unique_ratio: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A categorical column with more distinct values than this share of rows is refused.",
    )
    max_categories: int = Field(
        500, ge=2, description="A categorical column with more categories than this is refused."
    )


class OutputSpec(_Strict):
    dir: str = Field("reports/datasets", description="Datasets land in DIR/<name>/<version>/; a relative DIR is taken from the current directory.")
    version: str | None = Field(None, description="Default: UTC time stamp of the run.")


class ScheduleSpec(_Strict):
    cron: str = Field(description="Cron expression for `synthgen deploy`.")
    timezone: str = "UTC"


# -- anomaly scorers (synthgen/anomaly) -------------------------------------------------------------
class _ScorerSpec(_Strict):
    false_alarm_rate: float = Field(0.05, gt=0, lt=1, description="The threshold is the (1 - this) quantile "
                                    "of normal calibration scores: the share of normal data expected to be flagged.")
    calibration_share: float = Field(0.2, gt=0, lt=1, description="Share of the normal data held back to calibrate "
                                     "the threshold when fit() gets no calibration set.")
    random_state: int = 0
    threads: int = Field(2, ge=1)


class FAnoGANScorerSpec(_ScorerSpec):
    """f-AnoGAN (Schlegl et al. 2019): an izi_f encoder trained with G and D frozen;
    score = MSE(x, G(E(x))) + kappa * MSE(f(x), f(G(E(x)))), f = discriminator features."""

    name: Literal["fanogan"] = "fanogan"
    kappa: float = Field(1.0, ge=0, description="Weight of the discriminator-feature residual.")
    encoder_epochs: int = Field(60, ge=1)
    encoder_lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(32, ge=2)
    device: Literal["auto", "cpu", "cuda"] = "auto"


class AnoGANScorerSpec(_ScorerSpec):
    """AnoGAN (Schlegl et al. 2017): per-sample latent search with G and D frozen;
    score = (1 - lambda) * residual + lambda * discriminator-feature residual (L1)."""

    name: Literal["anogan"] = "anogan"
    lambda_weight: float = Field(0.1, ge=0, le=1, description="lambda: weight of the feature residual.")
    steps: int = Field(500, ge=1, description="Adam steps of the latent search per sample.")
    lr: float = Field(0.02, gt=0, description="Adam learning rate of the latent search.")
    candidates: int = Field(8, ge=1, description="Shared seeded starting latents; each sample starts from its best.")
    batch_size: int = Field(256, ge=1, description="Samples searched at once.")
    device: Literal["auto", "cpu", "cuda"] = "auto"


class GANKNNScorerSpec(_ScorerSpec):
    """Tabular: mean distance to the k nearest rows the trained GAN generates for the normal classes.
    The saved scorer holds synthetic rows only, never a real one."""

    name: Literal["gan_knn"] = "gan_knn"
    n_neighbors: int = Field(5, ge=1)
    reference_rows: int = Field(5000, ge=10, description="Synthetic normal rows drawn as the reference set.")


class IsolationForestScorerSpec(_ScorerSpec):
    name: Literal["isolation_forest"] = "isolation_forest"
    n_estimators: int = Field(200, ge=1)
    max_samples: int = Field(256, ge=2)


class KNNScorerSpec(_ScorerSpec):
    name: Literal["knn"] = "knn"
    n_neighbors: int = Field(5, ge=1)


class ECODScorerSpec(_ScorerSpec):
    name: Literal["ecod"] = "ecod"


ImageScorerSpec = Annotated[FAnoGANScorerSpec | AnoGANScorerSpec | IsolationForestScorerSpec | KNNScorerSpec
                            | ECODScorerSpec, Field(discriminator="name")]
TabularScorerSpec = Annotated[GANKNNScorerSpec | IsolationForestScorerSpec | KNNScorerSpec | ECODScorerSpec,
                              Field(discriminator="name")]
SCORER_SPECS: dict[str, type[_ScorerSpec]] = {
    m.model_fields["name"].default: m for m in (FAnoGANScorerSpec, AnoGANScorerSpec, GANKNNScorerSpec,
                                                IsolationForestScorerSpec, KNNScorerSpec, ECODScorerSpec)}


class _ScreenSpec(_Strict):
    normal_classes: list[str] | None = Field(None, description="Classes that count as normal: the scorer is "
                                             "fitted on them only; null = every class.")
    top_k: int = Field(16, ge=1, description="Highest-scoring items shown in the screening report.")


class ImageScreenSpec(_ScreenSpec):
    """Ask the augmentation run to also fit an anomaly scorer on the GAN it trained and screen the holdout."""

    scorer: ImageScorerSpec = Field(default_factory=FAnoGANScorerSpec)


class TabularScreenSpec(_ScreenSpec):
    """Ask the augmentation run to also fit an anomaly scorer on the GAN it trained and screen the holdout."""

    scorer: TabularScorerSpec = Field(default_factory=GANKNNScorerSpec)


class TabularSpec(_Strict):
    modality: Literal["tabular"]
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")]
    description: str = ""
    source: SourceSpec
    label: str
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)
    split: SplitSpec = Field(default_factory=SplitSpec)
    model: CTGANModelSpec = Field(default_factory=CTGANModelSpec)
    sample: SampleSpec = Field(default_factory=SampleSpec)
    gates: TabularGates = Field(default_factory=TabularGates)
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    output: OutputSpec = Field(default_factory=OutputSpec)
    schedule: ScheduleSpec | None = None
    screen: TabularScreenSpec | None = None


class ImageSourceSpec(_OneSource):
    """Image folders (one subfolder per class), MedMNIST-style NPZ, DICOM or NIfTI, or a built-in set."""

    path: str | None = Field(None, description="File or folder; relative to the spec file's folder.")
    builtin: str | None = Field(None, description="Built-in image set (see `synthgen builtins`).")
    format: Literal["folder", "npz", "dicom", "nifti"] | None = Field(
        None, description="Default: npz for .npz, nifti for .nii/.nii.gz, dicom for .dcm, else folder.")
    class_names: dict[str, str] | None = Field(
        None, description="Rename classes, e.g. NPZ label 0 -> normal: {0: normal, 1: pneumonia}.")
    npz_splits: list[str] = Field(
        default_factory=lambda: ["train", "val", "test"],
        description="NPZ splits pooled as real data (keys <split>_images / <split>_labels).")
    window: tuple[float, float] | None = Field(
        None, description="DICOM window (center, width); default: the file's own window, else min-max.")
    slice_axis: int = Field(2, ge=0, le=2, description="NIfTI: slice along this axis.")
    mask: bool = Field(True, description="NIfTI: drop slices whose body/brain mask is nearly empty.")
    min_foreground: float = Field(0.05, ge=0, le=1, description="NIfTI: least mask share to keep a slice.")

    @field_validator("class_names", mode="before")
    @classmethod
    def _names_as_text(cls, value):
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else value



class ImageShapeSpec(_Strict):
    size: int | None = Field(None, ge=8, le=256, description="Square side in pixels; default: the source's.")
    channels: Literal[1, 3] | None = Field(None, description="1 (gray) or 3 (RGB); default: the source's.")


class ConditionalGANModelSpec(_Strict):
    """Class-conditional GAN for small labeled image sets: projection discriminator, spectral norm,
    hinge loss, DiffAugment, EMA generator."""

    name: Literal["conditional_gan"] = "conditional_gan"
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(32, ge=2)
    latent_dim: int = Field(64, ge=1)
    base_channels: int = Field(32, ge=4, description="Width of the first generator/discriminator layers.")
    generator_lr: float = Field(2e-4, gt=0)
    discriminator_lr: float = Field(2e-4, gt=0)
    ema_decay: float = Field(0.999, ge=0, lt=1)
    diffaugment: str = Field("translation", description="Comma list of translation, cutout, color; '' = off.")
    mode_seeking: float = Field(1.0, ge=0, description="Weight of the mode-seeking term (Mao et al. 2019) "
                                "that keeps different latents apart within a class; 0 = off.")
    truncation: float = Field(0.6, gt=0, le=1.0, description="Scale of the latent draws when sampling "
                              "(truncation trick, Brock et al. 2019): below 1 trades variety for class fidelity; "
                              "1 = off. Measured on MNIST-5k: 1.0 -> fidelity 0.88, TSTR/TRTR 0.95; 0.6 -> 0.97, 0.92.")
    max_minutes: float | None = Field(None, gt=0, description="Stop training after this long (checkpointed).")
    random_state: int = 0
    threads: int = Field(2, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"


class ImageGates(_Strict):
    """Gate thresholds by metric name (null disables a gate)."""

    label_fidelity: float | None = Field(0.8, description="min accuracy of the real-data classifier on synthetic images vs their conditioned labels")
    fd_ratio: float | None = Field(50.0, description="max Fréchet distance (classifier features) to train, over the holdout's")
    coverage: float | None = Field(0.3, description="min coverage (Naeem et al. 2020) of the real train features")
    tstr_ratio: float | None = Field(0.7, description="min holdout accuracy of a classifier trained on synthetic over one trained on real")
    image_augmentation_uplift: float | None = Field(None, description="min change in holdout accuracy from adding synthetic images")
    memorization_share: float | None = Field(0.05, description="max share of synthetic images closer to train than the holdout's 1st percentile (pixel or feature space, the worse)")
    image_dcr_share: float | None = Field(0.6, description="max P(d(s, train) < d(s, holdout)) (pixel or feature space, the worse)")


class ImageValidationSpec(_Strict):
    classifier_epochs: int = Field(5, ge=1, description="Epochs of the small CNN used as feature network and for TSTR.")
    max_images: int = Field(4000, ge=50, description="Metrics use at most this many images per side.")


class ImageSpec(_Strict):
    modality: Literal["image"]
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")]
    description: str = ""
    source: ImageSourceSpec
    image: ImageShapeSpec = Field(default_factory=ImageShapeSpec)
    augment: dict[str, Any] | None = Field(
        None, description="albumentations pipeline in its own serialized form (A.to_dict); applied to real "
        "images while training the generator.")
    split: SplitSpec = Field(default_factory=SplitSpec)
    model: ConditionalGANModelSpec = Field(default_factory=ConditionalGANModelSpec)
    sample: SampleSpec = Field(default_factory=SampleSpec)
    gates: ImageGates = Field(default_factory=ImageGates)
    validation: ImageValidationSpec = Field(default_factory=ImageValidationSpec)
    output: OutputSpec = Field(default_factory=OutputSpec)
    schedule: ScheduleSpec | None = None
    screen: ImageScreenSpec | None = None


Spec = TabularSpec | ImageSpec


SPEC_MODELS: dict[str, type[_Strict]] = {"tabular": TabularSpec, "image": ImageSpec}
MODALITIES = ("tabular", "image")


class LoadedSpec(BaseModel):
    """A validated spec with where it came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    spec: TabularSpec | ImageSpec
    path: Path
    overrides: list[str] = Field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def spec_hash(self) -> str:
        canonical = json.dumps(self.spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def parse_override(text: str) -> tuple[list[str], Any]:
    """`model.epochs=5` -> (["model", "epochs"], 5); the value is read as YAML."""
    if "=" not in text:
        raise InputError(f"--set {text!r}: expected KEY=VALUE, e.g. model.epochs=5")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise InputError(f"--set {text!r}: empty key")
    try:
        value = read_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise InputError(f"--set {text!r}: value is not valid YAML: {exc}") from exc
    return parts, value


def apply_overrides(raw: dict[str, Any], overrides: list[str], *, origin: str) -> dict[str, Any]:
    for text in overrides:
        parts, value = parse_override(text)
        node = raw
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise InputError(f"{origin}: --set {text!r}: `{where}` is not a mapping")
            node = child
        node[parts[-1]] = value
    return raw


def _format_errors(exc: ValidationError, origin: str) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        got = err.get("input")
        shown = "" if err["type"] in ("extra_forbidden", "missing") or isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  {loc}: {msg}{shown}")
    return f"{origin}: invalid spec\n" + "\n".join(lines)


def validate_spec(raw: Any, *, origin: str) -> Spec:
    if not isinstance(raw, dict):
        raise InputError(f"{origin}: a spec must be a YAML mapping, got {type(raw).__name__}")
    modality = raw.get("modality")
    if modality not in MODALITIES:
        raise InputError(f"{origin}: modality: must be one of {', '.join(MODALITIES)} (got {modality!r})")
    model = SPEC_MODELS[modality]
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InputError(_format_errors(exc, origin)) from None


def load_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> LoadedSpec:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: spec file not found")
    try:
        raw = read_yaml(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}") from None
    if isinstance(raw, dict):
        raw = apply_overrides(raw, list(overrides), origin=str(path))
    spec = validate_spec(raw, origin=str(path))
    return LoadedSpec(spec=spec, path=path.resolve(), overrides=list(overrides))


def json_schema() -> dict[str, Any]:
    from pydantic import TypeAdapter

    schema = TypeAdapter(Annotated[Spec, Field(discriminator="modality")]).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "synthgen dataset spec"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
