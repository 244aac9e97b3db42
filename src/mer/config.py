"""Typed, validated ``params.yaml``: one load at the edge, one clear error per mistake."""

from __future__ import annotations

import codecs
import difflib
import math
import os
import textwrap
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from mer import paths
from mer.errors import ParamsError
from mer.labels import CASME2_5, SCHEMES, corpus_name

Source = Literal["synthetic", "casme2", "samm", "smic", "flow-images"]
Corpus = Literal["casme2", "samm", "smic", "flow-images"]  # the corpus formats mer reads
SyntheticFormat = Literal["casme2", "samm", "smic"]  # formats `mer synthesize` writes
FlowChannels = Literal["auto", "rgb", "bgr"]
Accelerator = Literal["auto", "cpu", "gpu"]  # where the CNN trains (mer.models.cnn)
Backend = Literal["local", "ray"]  # where LOSO folds run (mer.evaluation.loso)
Scheme = Literal[tuple(SCHEMES)]  # type: ignore[valid-type]  # mer.labels names them
# The field's published nets (mer.models.references): opt-in baselines, never the primary model.
Reference = Literal["ststnet", "off-apexnet", "sssnet"]
# The one spelling of each model's name: train.models, metrics.json, MLflow runs, the registry.
ModelKind = Literal["svm", "cnn", "hybrid", Reference]
SVM, CNN, HYBRID, STSTNET, OFF_APEXNET, SSSNET = typing.get_args(ModelKind)
REFERENCES: tuple[str, ...] = typing.get_args(Reference)
FLOOR = "majority"  # trivial baseline, always trained: the most frequent training class
CEILING = "au-oracle"  # trained when the manifest has AU codes: an SVM on the true AU codes
FIGURES = ("uar", "uf1", "accuracy")  # a model's headline figures (evaluation.json, tags)


def _takes_number(annotation: Any) -> bool:
    """True for int and float, alone, in a union (``int | None``) or as the items of a tuple:
    the annotations where pydantic's lax mode would read YAML's true/false as 1/0."""
    if annotation in (int, float):
        return True
    args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return bool not in args and any(_takes_number(a) for a in args)
    if origin in (tuple, list):
        return any(_takes_number(a) for a in args)
    if origin is dict:
        return _takes_number(args[1])
    return False


def _has_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, dict):
        value = list(value.values())
    return isinstance(value, list | tuple) and any(isinstance(v, bool) for v in value)


def listed_once(value: tuple[Any, ...], key: str, why: str) -> tuple[Any, ...]:
    """``value`` when no item is listed twice, else a ValueError naming them and ``why``
    once is the rule (a list of models, experts or corpora is a set)."""
    twice = sorted({str(item) for item in value if value.count(item) > 1})
    if twice:
        raise ValueError(f"{key} lists {', '.join(twice)} more than once; list each once "
                         f"({why})")
    return value


class Section(BaseModel):
    """Base of every params section: unknown keys are errors, values are immutable, a number
    is never true/false (``epochs: true`` is a mistake, not one epoch) and never infinite or
    NaN (``.inf`` passed every lower bound: a break-it session's spotting.noise_floor: .inf
    spotted nothing, without a word)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        # One check for every numeric field of every section, present and future: pydantic's
        # lax mode takes a bool as 0/1 for int and float, and strict mode would also refuse
        # the coercions params.yaml relies on (str -> Path, list -> tuple).
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _has_bool(value) and _takes_number(field.annotation):
            raise PydanticCustomError(
                "bool_for_number", "expected a number, not true/false")
        return value


class SyntheticParams(Section):
    subjects: int = Field(26, ge=2, description="subjects; CASME II has 26")
    clips: int = Field(255, ge=4, description="clips over all subjects; CASME II has 255")
    intensity: float = Field(1.0, gt=0, description="scales every AU displacement")
    noise: float = Field(1.0, ge=0, description="scales drift, jitter, blinks, flicker and "
                         "sensor noise")
    frame_width: int = Field(232, ge=96, description="cropped frame width, px")
    frame_height: int = Field(280, ge=96, description="cropped frame height, px")
    jpeg_quality: int = Field(90, ge=30, le=100, description="JPEG quality of the frames")
    corpora: tuple[SyntheticFormat, ...] = Field(
        ("casme2",), min_length=1, description="on-disk formats written into data.root (the "
        "MEGC2019 three): casme2 (Cropped/subNN/...), samm (SAMM/006/...), "
        "smic (HS/s1/micro/...)")
    workers: int = Field(2, ge=1, description="processes rendering clips; the files do "
                         "not depend on it")

    @field_validator("corpora")
    @classmethod
    def _each_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return listed_once(value, "data.synthetic.corpora", "each is one corpus written once")

    @model_validator(mode="after")
    def _enough_clips(self) -> SyntheticParams:
        if self.clips < 2 * self.subjects:
            raise ValueError(f"data.synthetic.clips ({self.clips}) must be at least 2 per "
                             f"subject ({2 * self.subjects} for data.synthetic.subjects "
                             f"{self.subjects})")
        return self


class CorpusSource(Section):
    """One corpus of a multi-corpus run (data.sources)."""

    source: Corpus
    root: Path = Field(description="the corpus folder; inside data.root, so DVC tracks it")
    annotations: Path | None = Field(
        None, description="coding sheet or CSV; null looks in root by the corpus's usual name")


class DataParams(Section):
    source: Source = Field("synthetic", description="the corpus format read from root")
    root: Path = Field(Path("data/synthetic"), description="your corpus folder; for "
                       "synthetic, where it is generated")
    annotations: Path | None = Field(
        None, description="coding sheet or CSV; null looks in root by the corpus's usual name")
    sources: tuple[CorpusSource, ...] = Field(
        (), description="several corpora in one manifest (e.g. the MEGC2019 composite), "
        "subjects namespaced by corpus; replaces source/annotations; each root inside "
        'data.root (README: "Several corpora")',
        examples=[[{"source": "casme2", "root": "corpora/CASME2"},
                   {"source": "samm", "root": "corpora/SAMM"},
                   {"source": "smic", "root": "corpora/SMIC"}]])
    on_bad_clip: Literal["error", "skip"] = Field(
        "error", description="a clip with a missing or broken frame stops the stage (error) "
        "or is left out and listed in reports/data.json (skip)")
    flow_channels: FlowChannels = Field(
        "auto", description="channel order of u, v, strain in the flow images: rgb is R=u, "
        "G=v, B=strain (MATLAB, PIL, imageio), bgr as cv2.imwrite wrote them; auto finds the "
        "channel that is the optical strain of the other two")
    seed: int = Field(0, ge=0, description="synthetic dataset seed")
    synthetic: SyntheticParams = SyntheticParams()

    @model_validator(mode="after")
    def _one_way_to_name_corpora(self) -> DataParams:
        if not self.sources:
            return self
        # source/annotations at their defaults are simply unused; anything else is a clash.
        clash = ("source" if self.source != "synthetic" else
                 "annotations" if self.annotations is not None else None)
        if clash:
            where = ("data.sources[i].source" if clash == "source" else
                     "data.sources[i].annotations, i the corpus's place in the list")
            raise ValueError(f"data.sources lists the corpora, so data.{clash} has no "
                             f"meaning: give it per corpus as {where}, and leave data.source "
                             "and data.annotations at their defaults (synthetic and null: "
                             "data.sources replaces them)")
        seen: set[str] = set()
        for source in self.sources:
            if source.source in seen:
                raise ValueError(f"data.sources lists {source.source} twice; list each "
                                 "corpus once")
            seen.add(source.source)
        kinds = {"flow images" if s.source == "flow-images" else "frames" for s in self.sources}
        if len(kinds) > 1:
            frames = ", ".join(s.source for s in self.sources if s.source != "flow-images")
            raise ValueError(f"data.sources mixes frame corpora ({frames}) with flow-images; "
                             "the models of one run take either frames or flow images, not "
                             "both: list only the frame corpora, or export them as flow "
                             "images with `mer export-flow-images` (README: \"The embedded "
                             "set as flow images\") and list them in the flow-image CSV")
        return self

    @property
    def formats(self) -> frozenset[str]:
        """The corpus formats ``corpora`` reads (their ``source``), from data.source and
        data.sources alone."""
        if self.sources:
            return frozenset(source.source for source in self.sources)
        return frozenset({"casme2" if self.source == "synthetic" else self.source})

    @property
    def root_is_embedded(self) -> bool:
        """True when data.root is the embedded synthetic folder (data/synthetic, relative to
        the working directory), where `mer synthesize` writes."""
        return Path(self.root).resolve() == paths.SYNTHETIC.resolve()

    @property
    def synthesized(self) -> bool:
        """True when `mer synthesize` generates the corpora this project reads, from data.seed:
        data.source synthetic, or data.sources with data.root the embedded folder and every
        source's root that folder itself (or SMIC-HS's HS folder in it), as
        examples/megc2019-synthetic.yaml has them
        (mer.stages.synthesize). Break-it sessions: real corpora listed with data.root left at
        its default were taken for the embedded composite, their paths unchecked; one moved
        into a folder of it, as the path check advised, was replaced by `mer synthesize`."""
        if not self.sources:
            return self.source == "synthetic"
        return self.root_is_embedded and all(self._reads_embedded(s) for s in self.sources)

    def _reads_embedded(self, source: CorpusSource) -> bool:
        """Whether ``source``'s root is data.root itself, or the SMIC-HS top folder in it."""
        roots = [self.root, *([self.root / "HS"] if source.source == "smic" else [])]
        return any(is_inside(source.root, root) and is_inside(root, source.root)
                   for root in roots)

    @property
    def corpora(self) -> tuple[CorpusSource, ...]:
        """The corpora to read: data.sources, or the one data.source names."""
        if self.sources:
            return self.sources
        return (CorpusSource(source="casme2" if self.source == "synthetic" else self.source,
                             root=self.root, annotations=self.annotations),)


class LabelParams(Section):
    scheme: Scheme = Field(CASME2_5, description="emotion classes and each corpus's mapping "
                           "onto them (mer.labels)")


class FaceParams(Section):
    size: int = Field(128, ge=48, description="aligned square crop side, px")
    # 0.33 / 0.30 keep brows-to-chin inside the crop even for a wide-open smile (the chin's
    # AU17 region needs it) with about a fifth of the crop of forehead for AU1/AU2.
    eye_distance: float = Field(0.33, gt=0.1, lt=0.9, description="inter-ocular distance as "
                                "a fraction of size (chin stays in)")
    eye_row: float = Field(0.30, gt=0.1, lt=0.6, description="eye line height as a fraction "
                           "of size")
    upsample: int = Field(1, ge=0, le=3, description="dlib detector upsampling passes")
    max_drift: float = Field(
        0.08, gt=0, lt=1, description="skip a clip whose face moves more than this fraction "
        "of the crop (mean rigid-landmark shift) between onset and apex/offset")
    min_correlation: float = Field(
        0.5, ge=-1, le=1, description="a face dlib misses on the apex/offset is kept if that "
        "aligned frame correlates this much with the onset crop; else the clip is skipped")
    workers: int = Field(2, ge=1, description="processes aligning clips; the crops do not "
                         "depend on it")


class FeatureParams(Section):
    steps: int = Field(3, ge=1, le=16, description="T flows over onset->apex->offset; "
                       "1 = onset->apex only")
    flow: Literal["dis", "tvl1"] = Field(
        "dis", description="tvl1 needs opencv-contrib-python-headless")
    flow_size: int = Field(128, ge=32, description="side of the face the flow is computed "
                           "on, px")
    input_size: int = Field(32, ge=8, description="side of the CNN's flow tensors, px")
    hoof_bins: int = Field(8, ge=4, le=36, description="orientation bins of each AU "
                           "region's optical-flow histogram (HOOF)")
    # DIS always runs at finest scale 0 (full resolution: sub-pixel motion is lost otherwise).
    # These four were tuned on a real face warped by 0.1-2 px (benchmarks/bench_features.py):
    # mean endpoint error 0.071 px, vs 0.073 px for OpenCV's medium preset at finest scale 0
    # (at ~1.8x its time, ~14 ms per 128 px flow) and 0.19 px for that preset as shipped.
    dis_patch_size: int = Field(8, ge=4, le=32, description="DIS patch side, px; DIS runs at "
                                "finest scale 0, these four tuned in "
                                "benchmarks/bench_features.py")
    dis_patch_stride: int = Field(2, ge=1, le=16, description="DIS patch stride, px")
    dis_iterations: int = Field(25, ge=1, le=256, description="DIS gradient-descent iterations")
    dis_refine_iterations: int = Field(
        10, ge=0, le=100, description="DIS variational refinement iterations (0 = none)")
    image_grid: int = Field(
        7, ge=1, le=16, description="flow-images: the SVM reads the mean u, v and strain of each "
        "cell of an image_grid x image_grid grid (7 measured best: "
        "mer.features.flow_image_features)")
    workers: int = Field(2, ge=1, description="processes computing flows; the features do "
                         "not depend on it")

    @model_validator(mode="after")
    def _stride_below_patch(self) -> FeatureParams:
        if self.dis_patch_stride >= self.dis_patch_size:
            raise ValueError(f"features.dis_patch_stride ({self.dis_patch_stride}) must be "
                             f"smaller than features.dis_patch_size ({self.dis_patch_size})")
        return self


class AugmentParams(Section):
    enabled: bool = Field(True, description="false: train on the clips as they are")
    hflip: float = Field(0.5, ge=0, le=1, description="probability of a horizontal flip; "
                         "negates u")
    rotate_deg: float = Field(8.0, ge=0, le=45, description="max rotation either way, "
                              "degrees; flow vectors rotate with the image")
    scale: float = Field(0.08, ge=0, lt=0.5, description="max relative zoom either way; "
                         "flow vectors scale too")
    brightness: float = Field(0.2, ge=0, le=1, description="max jitter; apex frame only, "
                              "never flow")
    contrast: float = Field(0.2, ge=0, le=1, description="max jitter; apex frame only, "
                            "never flow")


class PretrainParams(Section):
    clips: int = Field(510, ge=0, description="synthetic clips (the embedded generator's casme2 "
                       "format and default settings, run through this project's faces and "
                       "features settings; for flow-images data, exported as 28 x 28 flow images "
                       "as mer export-flow-images writes them and read back) one FlowNet is "
                       "pretrained on, once; every CNN fit then starts from its streams, GRU "
                       "and embedding with a fresh emotion head; 0 = off. Never read from "
                       "data.root; cached in data/pretrain")
    subjects: int = Field(52, ge=2, description="subjects of the pretraining corpus")
    seed: int = Field(1000, description="its data seed; must differ from data.seed when the "
                      "project reads the embedded synthetic data, so no project subject is in it")
    epochs: int = Field(100, ge=1, description="pretraining epochs (chosen on the pretraining "
                        "corpus's own held-out subjects: mer.models.pretrain)")
    au_aux: float = Field(1.0, ge=0, description="weight of the AU loss while pretraining "
                          "(the generator's AU codes; train.cnn.au_aux's head)")


class CnnParams(Section):
    epochs: int = Field(30, ge=1, description="fixed count: no early stopping, no epoch "
                        "choice on the held-out subject; the learning rate anneals to 0 "
                        "over them")
    batch_size: int = Field(32, ge=2, description="clips per optimiser step")
    lr: float = Field(3e-3, gt=0, description="Adam's initial learning rate, cosine-annealed "
                      "to 0 over the epochs")
    weight_decay: float = Field(1e-4, ge=0, description="Adam's L2 penalty")
    channels: int = Field(8, ge=2, description="u/v stream width; strain and apex get half. "
                          "8 keeps a 255-clip fold's CNN at seconds on one CPU core")
    embedding: int = Field(32, ge=2, description="width of the layer before the softmax head")
    dropout: float = Field(0.3, ge=0, lt=1, description="dropout on that layer, training only")
    apex_stream: bool = Field(False, description="fuse a conv stream over the apex frame")
    mixup: float = Field(0.0, ge=0, description="mixup's Beta(a, a) parameter a: each "
                         "training clip blended with another and their labels alike; 0 = off")
    au_aux: float = Field(0.0, ge=0, description="weight of an auxiliary multi-label loss: a "
                          "second head on the embedding predicts the training clips' annotated "
                          "AUs (manifest column aus; vocabulary from the training clips; clips "
                          "without codes add nothing); predictions use the emotion head alone; "
                          "0 = off")
    pretrain: PretrainParams = PretrainParams()  # mer.models.pretrain
    ensemble: int = Field(1, ge=1, description="CNNs per fit, differing only in their seed; "
                          "their softmaxes are averaged, so a result owes less to seed luck. "
                          "Pretrained, one scores as three did (mer.models.pretrain) in a third "
                          "of the time")
    augment: AugmentParams = Field(AugmentParams(), description="training subjects only, one "
                                   "geometry per clip")
    accelerator: Accelerator = Field(
        "cpu", description="cpu: byte-reproducible on any machine; gpu: a CUDA GPU, an error "
        "without one; auto: a GPU when torch sees one, else the CPU (GPU floats differ from "
        "CPU ones, so results then depend on the machine)")


class SvmParams(Section):
    trials: int = Field(30, ge=1, description="Optuna TPE trials per fold")
    inner_folds: int = Field(3, ge=2, description="inner split grouped by subject, "
                             "training subjects only")
    c_min: float = Field(1e-2, gt=0, description="lower end of C's log-scale search")
    c_max: float = Field(1e3, gt=0, description="upper end of C's log-scale search")
    gamma_min: float = Field(1e-4, gt=0, description="lower end of gamma's log-scale search "
                             "(features are standardised)")
    gamma_max: float = Field(1e1, gt=0, description="upper end of gamma's log-scale search")

    @model_validator(mode="after")
    def _ranges(self) -> SvmParams:
        for name in ("c", "gamma"):
            low, high = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
            if low >= high:
                raise ValueError(f"train.svm.{name}_min ({low}) must be below "
                                 f"train.svm.{name}_max ({high})")
        return self


class ReferenceParams(Section):
    """How the reference nets are trained; mer.models.references says how it was chosen."""

    epochs: int = Field(10, ge=1, description="fixed count, as for the CNN; the published "
                        "500-800 epochs at lr 5e-5 do not fit one CPU core")
    lr: dict[Reference, float] = Field(
        {STSTNET: 1e-2, OFF_APEXNET: 1e-3, SSSNET: 1e-3}, description="Adam's initial "
        "learning rate per net (their sizes differ a thousandfold), cosine-annealed to 0")
    batch_size: int = Field(32, ge=2, description="clips per optimiser step")
    weight_decay: float = Field(1e-4, ge=0, description="Adam's L2 penalty")

    @field_validator("lr")
    @classmethod
    def _every_net_positive(cls, value: dict[str, float]) -> dict[str, float]:
        missing = [name for name in REFERENCES if name not in value]
        if missing:
            raise ValueError(f"train.references.lr has no value for {', '.join(missing)}: "
                             f"give every reference net one ({', '.join(REFERENCES)})")
        bad = [name for name in REFERENCES if value[name] <= 0]
        if bad:
            raise ValueError(f"train.references.lr: {', '.join(bad)} must be above 0")
        return {name: value[name] for name in REFERENCES}  # one order: stable bytes and keys


HybridExpert = Literal["svm", Reference]  # what the hybrid may average with its CNN


class HybridParams(Section):
    """What the hybrid averages with its CNN (mer.models.hybrid says how it was chosen)."""

    experts: tuple[HybridExpert, ...] = Field(
        (OFF_APEXNET,), min_length=1,
        description="averaged with the CNN's softmax, equal weights: "
        f"{SVM} (the AU-region SVM) and any of {', '.join(REFERENCES)} (a net trained as "
        "train.references says, with its own seed)")

    @field_validator("experts")
    @classmethod
    def _each_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return listed_once(value, "train.hybrid.experts", "the mean has equal weights")


class TrainParams(Section):
    seed: int = Field(0, ge=0, description="fold k uses seed + k")
    models: tuple[ModelKind, ...] = Field(
        (SVM, CNN, HYBRID), min_length=1,
        description=f"plus the {FLOOR} floor and, with AU codes, the {CEILING} ceiling; "
        f"add {', '.join(REFERENCES)} to compare with the field's reference nets")
    parallel_folds: int = Field(2, ge=1, description="fold worker processes; results are "
                                "identical for any value")
    backend: Backend = Field("local", description="local: folds in a process pool of "
                             "parallel_folds workers; ray: each (learner, fold) is a Ray task "
                             "(pip install 'mer[ray]'), same results")
    ray_address: str | None = Field(None, description="backend ray: the cluster to join, "
                                    "e.g. 10.0.0.5:6379; when null, $RAY_ADDRESS, else a Ray "
                                    "started here with parallel_folds CPUs")
    ray_max_retries: int = Field(3, ge=0, description="backend ray: reruns of a fold whose "
                                 "worker died (a node lost, out of memory); an error raised "
                                 "by the fold itself is never retried")
    cnn: CnnParams = CnnParams()
    svm: SvmParams = SvmParams()
    references: ReferenceParams = ReferenceParams()
    hybrid: HybridParams = HybridParams()

    @field_validator("models")
    @classmethod
    def _each_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return listed_once(value, "train.models", "each model is trained once")

    @model_validator(mode="after")
    def _one_of_ours(self) -> TrainParams:
        if not set(self.models) - set(REFERENCES):
            raise ValueError(f"train.models {list(self.models)} has only reference nets; add "
                             f"{SVM}, {CNN} or {HYBRID}: the references are baselines to compare "
                             "with, never the model mer reports")
        if self.backend != "ray" and self.ray_address is not None:
            raise ValueError(f"train.ray_address ({self.ray_address}) is for train.backend: "
                             f"ray, but train.backend is {self.backend}: set the backend to "
                             "ray to run the folds on that cluster, or remove ray_address")
        return self


class EvaluationParams(Section):
    protocol: Literal["loso", "cross-corpus"] = Field(
        "loso", description="loso is one fold per subject over every corpus; cross-corpus "
        "trains on train_corpora and tests on each of test_corpora")
    train_corpora: tuple[str, ...] = Field((), description="cross-corpus: training "
                                           "corpora, e.g. [casme2]; casme2, samm, smic in any "
                                           "spelling, or a flow-image CSV's other corpus")
    test_corpora: tuple[str, ...] = Field((), description="cross-corpus: test corpora, "
                                          "e.g. [samm]")

    @field_validator("train_corpora", "test_corpora", mode="before")
    @classmethod
    def _any_spelling(cls, value: Any) -> Any:
        # A corpus named as a flow-image CSV's dataset column names it ('SAMM', 'CASME II',
        # 'SMIC-HS', or a corpus mer does not know, 'SMIC-VIS'), in mer's spelling
        # (mer.labels.corpus_name); flow-images is the corpus of a CSV with no such column.
        if isinstance(value, list | tuple):
            return [corpus_name(item) if isinstance(item, str) and item != "flow-images"
                    else item for item in value]
        return value

    @field_validator("train_corpora", "test_corpora")
    @classmethod
    def _each_once(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return listed_once(value, f"evaluation.{info.field_name}",
                           "a corpus listed twice would be trained on or scored twice")

    @model_validator(mode="after")
    def _cross_corpus_named(self) -> EvaluationParams:
        if self.protocol == "loso":
            if self.train_corpora or self.test_corpora:
                raise ValueError("evaluation.train_corpora and evaluation.test_corpora are "
                                 "for evaluation.protocol: cross-corpus; remove them or set it")
            return self
        if not self.train_corpora or not self.test_corpora:
            raise ValueError("evaluation.protocol cross-corpus needs evaluation.train_corpora "
                             "and evaluation.test_corpora (e.g. [casme2] and [samm])")
        shared = sorted(set(self.train_corpora) & set(self.test_corpora))
        if shared:
            raise ValueError(f"{shared[0]} is in both evaluation.train_corpora and "
                             "evaluation.test_corpora; a corpus is trained on or tested, "
                             "not both")
        return self


class TrackingParams(Section):
    experiment: str = Field("mer", description="MLflow experiment of the runs")
    model_name: str = Field("mer-hybrid", description="registered model; applications load "
                            "models:/<model_name>@champion")

    @field_validator("experiment", "model_name")
    @classmethod
    def _a_name(cls, value: str, info: ValidationInfo) -> str:
        # (a break-it session: an empty name passed, then MLflow refused it in `mer register`
        # after the final model's fit, blaming the tracking URI; a blank one made an experiment)
        key = f"tracking.{info.field_name}"
        if not value.strip():
            raise ValueError(f"{key} is empty: give it a name (MLflow refuses an empty one)")
        if value != value.strip():
            raise ValueError(f"{key} {value!r} starts or ends with a space: write it without")
        if info.field_name == "model_name" and any(ch in value for ch in "/@:"):
            raise ValueError(f"{key} {value!r} holds '/', '@' or ':', which models:/<name>@"
                             "<alias> URIs use as separators: name it without them")
        return value


SpottingSource = Literal["synthetic", "casme_sq", "samm_lv"]  # long-video corpora mer spots in
# The facial regions mer.features.regions.au_regions draws, in its order.
FacialRegion = Literal["brow_R", "upper_lid_R", "lower_lid_R", "brow_L", "upper_lid_L",
                       "lower_lid_L", "glabella", "cheek_R", "cheek_L", "nose", "upper_lip_R",
                       "upper_lip_L", "lip_corner_R", "lip_corner_L", "chin", "mouth"]


# The synthetic long videos' expression durations, onset to offset, s: MEGC counts up to 0.5 s
# as micro; CAS(ME)^2's macro-expressions last mostly 0.5-4 s, kept short here so windows of a
# few seconds hold them (mer.synthetic.long_videos).
MICRO_SECONDS = (0.2, 0.5)
MACRO_SECONDS = (0.8, 1.6)
GAP_SECONDS = 1.0  # least time between two expressions, and from the video's ends
# The least rate at which a micro interval (the apex +- 1 frame at the least) can be as short
# as a micro-expression: 2 frames in MICRO_SECONDS[1].
MIN_SPOTTING_FPS = 2 / MICRO_SECONDS[1]
# The greatest rate a video of faces is read at: far above the field's cameras (CASME II and
# SAMM 200 frames/s, SMIC-HS 100), below rates whose windows and frame buffers no machine holds
# (a break-it session: 1e19 frames/s, a header's or a typing mistake, overflowed them).
MAX_SPOTTING_FPS = 10_000.0
SPOTTING_RATES = f"spotting reads {MIN_SPOTTING_FPS:g} to {MAX_SPOTTING_FPS:g} frames/s"


def frame_rate_fault(fps: float) -> str | None:
    """Why ``fps`` (frames/s) is no rate a video is spotted at, None when it is one: finite,
    MIN_SPOTTING_FPS to MAX_SPOTTING_FPS. Below it a micro interval, the apex +- k_micro (2
    frames at the least), would outlast any micro-expression (0.67 s at 3 frames/s; a break-it
    session); an infinite, NaN or huge rate stopped with Python's OverflowError from the
    window arithmetic (a break-it session). The one rule for `mer spot --fps`, a video file's
    header, a request to a served model and spotting.synthetic.fps (break-it sessions: `mer
    spot` said "from 1 to 10000" while a request was held to another bound, and the synthetic
    corpus was written at 2 frames/s to be refused when spotted). The text names no rate:
    callers do, with rate_shown."""
    bound = SPOTTING_RATES
    if not (math.isfinite(fps) and fps > 0):
        return f"no video's rate; {bound}"
    if fps > MAX_SPOTTING_FPS:
        return f"faster than spotting's windows and frame buffers are sized for; {bound}"
    if fps < MIN_SPOTTING_FPS:
        span = f"{2 / fps:.3g}"  # 'just over' where 3 digits round onto the bound (h58)
        span = span if float(span) > MICRO_SECONDS[1] else f"just over {MICRO_SECONDS[1]:g}"
        return (f"a micro interval (the apex +- 1 frame at the least) would span {span} s, "
                f"longer than a micro-expression lasts (at most {MICRO_SECONDS[1]:g} s); "
                f"{bound}")
    return None


def _non_finite(value: Any) -> float | None:
    """``value`` as a float when it reads as NaN or infinity ('.nan' in YAML, 'inf' in a
    string), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return None if math.isfinite(number) else number


def rate_shown(fps: float) -> str:
    """A frame rate as messages write it: '30', '12.5'; every digit where fewer would show
    another number ('3.9999999', not '4'; a break-it session: "at 4 frames/s ... needs 4")."""
    short = f"{fps:g}"
    return short if not math.isfinite(fps) or float(short) == fps else repr(fps)


class LongVideoParams(Section):
    """The embedded synthetic long videos (spotting.synthetic), in CAS(ME)^2's format."""

    subjects: int = Field(6, ge=2, description="subjects, one long video each; LOSO needs 2+")
    seconds: float = Field(30.0, gt=5, description="length of each video, s")
    # (bounded by _a_rate_spotting_reads, whose message gives the range: h58)
    fps: float = Field(30.0, description="frame rate; CAS(ME)^2 films at 30 fps")
    micro: int = Field(4, ge=0, description="micro-expressions per video (0.2-0.5 s each)")
    macro: int = Field(3, ge=0, description="macro-expressions per video (0.8-1.6 s each)")
    frame_width: int = Field(160, ge=96, description="frame width, px: small renders fast and "
                             "dlib still finds the face")
    frame_height: int = Field(192, ge=96, description="frame height, px")
    intensity: float = Field(1.0, gt=0, description="scales every AU displacement (1: a "
                             "micro-expression moves the skin about 1-2 px)")
    noise: float = Field(1.0, ge=0, description="scales blinks, head motion, talking, flicker "
                         "and sensor noise")
    jpeg_quality: int = Field(90, ge=30, le=100, description="JPEG quality of the frames")

    @field_validator("fps", mode="wrap")
    @classmethod
    def _a_rate_spotting_reads(cls, fps: Any, handler: ValidatorFunctionWrapHandler) -> float:
        # before a corpus is written at it, not when spot-eval reads it (a break-it session);
        # wrapped so that NaN and infinity get the rule's message, with its range, rather
        # than the sections' "finite number" (h58 G4)
        rate = _non_finite(fps)
        fps = handler(fps) if rate is None else rate
        fault = frame_rate_fault(fps)
        if fault is not None:
            raise ValueError(f"spotting.synthetic.fps: {rate_shown(fps)} frames/s: {fault}")
        return fps


class SpottingParams(Section):
    """Spotting expressions in long videos (mer spot, mer spot-eval; README "Spotting")."""

    source: SpottingSource = Field("synthetic", description="long-video corpus format read "
                                   "from root: synthetic (generated there), casme_sq, samm_lv")
    root: Path = Field(Path("data/synthetic_long"), description="the long-video corpus "
                       "folder; for synthetic, where it is generated")
    annotations: Path | None = Field(None, description="coding workbook; null looks in root "
                                     "by the corpus's usual name")
    seed: int = Field(0, ge=0, description="synthetic long-video seed")
    synthetic: LongVideoParams = LongVideoParams()
    face_size: int = Field(64, ge=32, description="side of the square face crop optical flow "
                           "is computed on, px: the size the spotter needs, not the video's")
    flow_iterations: int = Field(12, ge=1, le=256, description="DIS gradient-descent "
                                 "iterations of the spotter's flow (features.dis_iterations "
                                 "is for clips; long videos need speed)")
    flow_refine_iterations: int = Field(0, ge=0, le=100, description="DIS variational "
                                        "refinement iterations of the spotter's flow")
    micro_window: float = Field(0.2, gt=0, description="k of the micro scale, s: frames are "
                                "compared k apart, about half a micro-expression")
    # a break-it session: 1e18 s overflowed the followed video's frame buffer, a traceback
    macro_window: float = Field(0.5, gt=0, le=10, description="k of the macro scale, s (at "
                                "most 10: a macro-expression lasts up to about 4 s)")
    regions: tuple[FacialRegion, ...] = Field(
        ("brow_R", "brow_L", "glabella", "lower_lid_R", "lower_lid_L", "cheek_R", "cheek_L",
         "nose", "upper_lip_R", "upper_lip_L", "lip_corner_R", "lip_corner_L", "chin"),
        min_length=1, description="facial regions (mer.features.regions) whose motion is "
        "spotted; eye interiors are masked in each, so blinks do not count")
    thresholds: tuple[float, ...] = Field(
        (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8),
        min_length=1, description="candidates for p in each video's threshold mean + p (max - "
        "mean), one per scale, chosen on the training subjects of each LOSO fold")
    noise_floor: float = Field(6.0, ge=0, description="least height of a spotted peak above "
                               "its video's median score, in robust standard deviations (IQR "
                               "/ 1.349) of the score: a still face spots nothing, where mean "
                               "+ p (max - mean) alone always passes the largest noise peaks; "
                               "0: that threshold alone (the MEGC baselines')")
    baseline_threshold: float = Field(0.3, gt=0, description="the plain baseline's fixed "
                                      "threshold on head-motion-removed flow magnitude, px")
    iou: float = Field(0.5, gt=0, le=1, description="least IoU of a spotted interval with a "
                       "ground-truth one for a true positive; MEGC uses 0.5")
    workers: int = Field(2, ge=1, description="processes computing videos' motion signals")

    @field_validator("regions", "thresholds")
    @classmethod
    def _each_once(cls, value: tuple[Any, ...], info: ValidationInfo) -> tuple[Any, ...]:
        return listed_once(value, f"spotting.{info.field_name}", "each region is measured, "
                           "each candidate p tried, once")

    @model_validator(mode="after")
    def _windows_fit(self) -> SpottingParams:
        if self.micro_window >= self.macro_window:
            raise ValueError("spotting.micro_window must be shorter than spotting.macro_window")
        return self

    @model_validator(mode="after")
    def _synthetic_expressions_fit(self) -> SpottingParams:
        # Only for the videos mer generates; at their longest, with the least gaps around
        # each: then every draw fits.
        long = self.synthetic
        needed = (long.micro * MICRO_SECONDS[1] + long.macro * MACRO_SECONDS[1]
                  + (long.micro + long.macro + 1) * GAP_SECONDS)
        if self.source == "synthetic" and long.micro + long.macro == 0:
            # a corpus with nothing to spot fits no p (a break-it session: a raw IndexError)
            raise ValueError("spotting.synthetic: micro and macro are both 0, so the videos "
                             "hold no expression and spot-eval has nothing to fit p on or "
                             "score; give at least one (false alarms are counted in every "
                             "video, between its expressions)")
        if self.source == "synthetic" and needed > long.seconds:
            raise ValueError(f"spotting.synthetic: {long.micro} micro- and {long.macro} "
                             f"macro-expressions need up to {needed:g} s with the gaps between "
                             f"them, longer than spotting.synthetic.seconds {long.seconds:g}: "
                             "lengthen it or lower spotting.synthetic.micro / macro")
        return self


# What `mer data` reads of params.data (dvc.yaml's data stage), as the manifest records it.
MANIFEST_DATA_KEYS = frozenset({"source", "root", "annotations", "sources", "on_bad_clip",
                                "flow_channels"})


# Keys whose value changes how fast or where a stage works, never what it writes.
RUNTIME_KEYS = frozenset({"workers", "parallel_folds", "backend", "ray_address",
                          "ray_max_retries"})


def _recorded(section: Section) -> dict[str, Any]:
    """``section.model_dump(mode="json")`` without its RUNTIME_KEYS, at any depth, reading
    only the fields it keeps (so that the test of dvc.yaml's params sees what is read)."""
    return {key: _recorded(value) if isinstance(value, Section) else _json_value(value)
            for key in type(section).model_fields if key not in RUNTIME_KEYS
            for value in (getattr(section, key),)}


def _json_value(value: Any) -> Any:
    """A params value as model_dump(mode="json") writes it."""
    from pydantic import TypeAdapter

    return TypeAdapter(type(value)).dump_python(value, mode="json")


class Params(Section):
    _source: str = PrivateAttr("params.yaml")  # the file read (parse_params), for messages
    data: DataParams = DataParams()
    labels: LabelParams = LabelParams()
    faces: FaceParams = FaceParams()
    features: FeatureParams = FeatureParams()
    train: TrainParams = TrainParams()
    evaluation: EvaluationParams = EvaluationParams()
    tracking: TrackingParams = TrackingParams()
    spotting: SpottingParams = SpottingParams()

    def recorded(self, sections: tuple[str, ...] = ("data", "labels", "faces", "features")
                 ) -> dict[str, Any]:
        """The params ``sections`` as the stage outputs record them, JSON values: which clips,
        with which labels, become the model's input, and how (the manifest records data and
        labels, faces.npz those and faces, features.npz all four; mer.core.npz.MADE_WITH),
        and how the models were trained (reports/training.json records train).

        ``data`` is only what `mer data` reads (MANIFEST_DATA_KEYS; data.seed and
        data.synthetic make the embedded corpus, not the manifest); no RUNTIME_KEYS, which
        change the speed or the place of the work, not its result."""
        dump: dict[str, Any] = {}
        for name in sections:
            if name == "data":  # key by key: the rest of the section is not read
                dump[name] = {key: _json_value(getattr(self.data, key))
                              for key in sorted(MANIFEST_DATA_KEYS)}
            else:
                dump[name] = _recorded(getattr(self, name))
        return dump

    @property
    def source(self) -> str:
        """The params file these were read from ('params.yaml' unless --params named another)."""
        return self._source

    def __eq__(self, other: object) -> bool:
        """Equal values are equal params, whichever file they were read from."""
        if not isinstance(other, Params):
            return NotImplemented
        return self.__dict__ == other.__dict__

    @model_validator(mode="after")
    def _pretraining_corpus(self) -> Params:
        check_pretraining(self)
        return self

    @model_validator(mode="after")
    def _corpora_exist(self) -> Params:
        named = self.data.formats
        if "flow-images" in named:
            return self  # a flow-image CSV names its corpora per row: checked by `mer train`
        if self.data.sources:
            reads, advice = f"data.sources: {', '.join(sorted(named))}", "add it to data.sources"
        elif self.data.source == "synthetic":  # a break-it session: 'data.source: casme2'
            reads, advice = ("data.source: synthetic, the embedded CASME II-format corpus",
                             "for the embedded composite, start from "
                             "examples/megc2019-synthetic.yaml (data.sources over the corpora "
                             "data.synthetic.corpora adds)")
        else:
            reads, advice = f"data.source: {self.data.source}", "list the corpora in data.sources"
        for part in ("train_corpora", "test_corpora"):
            unknown = [c for c in getattr(self.evaluation, part) if c not in named]
            if unknown:
                raise ValueError(f"evaluation.{part} names {unknown[0]}, which is not a corpus "
                                 f"this run reads ({reads}); {advice}, or name one it reads")
        return self


def check_pretraining(params: Params) -> None:
    """ValueError when train.cnn.pretrain cannot hold for ``params``: a pretraining seed equal
    to data.seed while the project reads the embedded synthetic data (DataParams.synthesized:
    its subjects would be redrawn into the pretraining corpus)."""
    pretrain = params.train.cnn.pretrain
    if pretrain.clips == 0:
        return
    if pretrain.clips < 2 * pretrain.subjects:  # what the generator needs (SyntheticParams)
        raise ValueError(
            f"train.cnn.pretrain.clips ({pretrain.clips}) must be 0 (no pretraining) or at "
            f"least 2 per pretraining subject ({2 * pretrain.subjects} for "
            f"train.cnn.pretrain.subjects {pretrain.subjects}); raise it or lower the subjects")
    pretrained = {CNN, HYBRID} & set(params.train.models)  # the models that start from it
    if params.data.synthesized and pretrain.seed == params.data.seed and pretrained:
        raise ValueError(
            f"train.cnn.pretrain.seed equals data.seed ({params.data.seed}): the pretraining "
            "corpus would redraw this project's synthetic subjects, so held-out subjects "
            f"would be in it (train.models has {', '.join(sorted(pretrained))}); give "
            "train.cnn.pretrain.seed another value, or set train.cnn.pretrain.clips: 0")


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the section that ``loc`` points into, for did-you-mean hints."""
    current: type[BaseModel] = model
    for part in loc[:-1]:
        if isinstance(part, int):  # an item of a list of sections (data.sources.0)
            continue
        field = current.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        # tuple[CorpusSource, ...]: the section is the item type
        items = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if len(items) == 1:
            annotation = items[0]
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        current = annotation
    return list(current.model_fields)


def _describe(error: dict[str, Any], source: str) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(p) for p in loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(Params, loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{source}: unknown key '{key}'{hint}; allowed here: {', '.join(allowed)}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "value_error":
        return f"{source}: {message}"
    given = error.get("input")
    if error["type"] in ("tuple_type", "list_type"):  # the user wrote YAML, not a tuple
        example = f"[{given}]" if isinstance(given, str | int | float) else "[a, b]"
        return (f"{source}: {key} is a list, got {given!r}: write it in brackets, e.g. "
                f"{key.rsplit('.', 1)[-1]}: {example} (dvc exp run -S '{key}={example}')")
    if error["type"] == "too_short" and isinstance(given, list | tuple):
        least = error.get("ctx", {}).get("min_length", 1)
        return (f"{source}: {key} lists {len(given)}, it needs at least {least} "
                f"item{'s' if least > 1 else ''} (got {list(given)!r})")
    return f"{source}: {key}: {message} (got {given!r})"


def parse_params(raw: dict[str, Any] | None, source: str = "params.yaml") -> Params:
    """Validate a params mapping; raise ParamsError naming every bad key."""
    try:
        params = Params.model_validate(raw or {})
    except ValidationError as exc:
        errors = exc.errors()
        # A list with a bad item is also 'too short' when its good items are too few: the
        # item's error says it all.
        with_bad_items = {tuple(e["loc"][:-1]) for e in errors
                          if e["loc"] and isinstance(e["loc"][-1], int)}
        lines = [_describe(e, source) for e in errors
                 if not (e["type"] == "too_short" and tuple(e["loc"]) in with_bad_items)]
        raise ParamsError("\n".join(lines)) from None
    params._source = source
    return params


def is_inside(path: str | Path, folder: str | Path) -> bool:
    """True when ``path`` lies in ``folder`` (or is it), compared lexically, not resolved: a
    symbolic link inside a folder DVC tracks is what DVC sees there."""
    def lexical(p: str | Path) -> Path:
        return Path(os.path.normpath(Path(p).absolute()))
    return lexical(path).is_relative_to(lexical(folder))


LINKS_SHOWN = 3  # linked folders a message names


def linked_folders(read: Path, tracked: Path) -> list[Path]:
    """Symbolic links to folders that mer would read through, strictly inside ``tracked`` (the
    folder a stage's DVC dependency names): on the way from ``tracked`` to ``read`` (a
    corpus root), or anywhere below ``read``. DVC follows a dependency that is itself a link,
    and linked files, but not a linked folder inside the folder it hashes: it counts it as
    empty, so an edit behind it never reruns the stage (a break-it session: a corrected
    coding sheet behind corpora/CASME2 -> /share/CASME2, and `dvc repro` kept the old labels).
    Sorted; empty when ``read`` is ``tracked`` itself and holds no linked folder."""
    tracked_abs = Path(os.path.normpath(tracked.absolute()))
    read_abs = Path(os.path.normpath(read.absolute()))
    found = [folder for folder in (read_abs, *read_abs.parents)
             if folder != tracked_abs and folder.is_relative_to(tracked_abs)
             and folder.is_symlink()]
    if read_abs.is_dir():
        for folder, names, _ in os.walk(read_abs):  # followlinks=False: links are not entered
            found += [Path(folder, name) for name in names if Path(folder, name).is_symlink()]
    return sorted(found)


def _refuse_links(read: Path, tracked: Path, key: str, section: str) -> None:
    """A ParamsError naming the linked folders mer would read through (linked_folders)."""
    links = linked_folders(read, tracked)
    if not links:
        return
    shown = ", ".join(f"{link} -> {os.readlink(link)}" for link in links[:LINKS_SHOWN])
    more = f" and {len(links) - LINKS_SHOWN} more" if len(links) > LINKS_SHOWN else ""
    raise ParamsError(
        f"{key}: {shown}{more}: a symbolic link to a folder inside {section}.root "
        f"({tracked}), which DVC does not follow: it would not notice an edited sheet or "
        f"frame behind the link, and `dvc repro` would keep stale results. Make {section}.root "
        "itself the link (DVC follows that one) to a folder holding the corpus, give "
        f"{section}.root as that folder's absolute path, or copy the corpus in")


def check_data_paths(data: DataParams) -> None:
    """A real corpus must already be on disk (the synthetic root is written by the pipeline).

    Checked by the stages that read the corpus, not at every load: a machine that only serves
    a registered model has no corpus. Every corpus of data.sources lies inside data.root: the
    data stage's DVC dependency is data.root, so an edit elsewhere would go unnoticed; for the
    same reason no corpus is read through a linked folder inside it (linked_folders).
    """
    if data.annotations is not None and not data.annotations.exists():
        # (checked for the synthetic set too, whose sheet it replaces: a break-it session was
        # told to run `mer synthesize`, which writes no such file)
        raise ParamsError(f"data.annotations: {_missing(data.annotations)}")
    if data.synthesized:  # `mer synthesize` writes it, one corpus or the composite
        return
    if not data.root.exists():
        raise ParamsError(f"data.root: {_missing(data.root)}; point it at your "
                          f"{'corpora' if data.sources else data.source} copy")
    for index, source in enumerate(data.sources):
        key = f"data.sources[{index}] ({source.source})"
        if not source.root.exists():
            raise ParamsError(f"{key}: root {_missing(source.root)}; point it at your "
                              f"{source.source} copy")
        if data.root_is_embedded:  # never advise a corpus into what synthesize replaces
            raise ParamsError(f"{key}: data.root is {data.root}, the synthetic dataset's "
                              "folder (its default), which `mer synthesize` replaces: set "
                              "data.root to the folder that holds your corpora")
        if not is_inside(source.root, data.root):
            raise ParamsError(f"{key}: root {source.root} is not inside data.root "
                              f"({data.root}); DVC tracks data.root only: put the corpus "
                              "there or move data.root up")
        _refuse_links(source.root, data.root, key, "data")
        if source.annotations is not None and not source.annotations.exists():
            raise ParamsError(f"{key}: annotations {_missing(source.annotations)}")
    if not data.sources:
        _refuse_links(data.root, data.root, "data.root", "data")


def check_spotting_paths(spotting: SpottingParams) -> None:
    """A real long-video corpus must already be on disk, as check_data_paths checks the
    recognition corpus: spotting.root and, when set, spotting.annotations (the synthetic
    long videos are written by `mer spot-synthesize`). Checked by `mer params --check` and
    `mer spot-eval`, not at every load: a machine that spots with a registered model has no
    corpus."""
    if spotting.source == "synthetic":
        return
    if not spotting.root.exists():
        raise ParamsError(f"spotting.root: {_missing(spotting.root)}; point it at your "
                          f"{spotting.source} copy")
    if spotting.annotations is not None and not spotting.annotations.exists():
        raise ParamsError(f"spotting.annotations: {_missing(spotting.annotations)}")
    _refuse_links(spotting.root, spotting.root, "spotting.root", "spotting")


def _missing(path: Path) -> str:
    """'<path> does not exist' for a path params.yaml names (paths.missing)."""
    return paths.missing(path, "does not exist", "paths in params files are relative to the "
                         "folder mer runs in: run it in the project folder")


class _DuplicateKey(yaml.YAMLError):
    """A key written twice in one mapping of a params file."""


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader refusing a key written twice in one mapping: PyYAML keeps the last one
    silently, where DVC refuses the file (a break-it session: a `train:` section appended to
    params.yaml replaced the first one's train.seed without a word, and `mer params --check`
    called the file fine)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:  # `<<: *anchor`: merged keys may be overridden
                continue  # (h66: the check refused a merge key before it was resolved)
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _DuplicateKey(f"the key {key!r} is written twice, on lines {seen[key]} "
                                    f"and {line}; write it once, merging the two (DVC refuses "
                                    "the file as it is)")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


# Byte-order marks of the encodings an editor may save a file in other than UTF-8.
_OTHER_BOMS = {codecs.BOM_UTF32_LE: "UTF-32", codecs.BOM_UTF32_BE: "UTF-32",
               codecs.BOM_UTF16_LE: "UTF-16", codecs.BOM_UTF16_BE: "UTF-16"}


def _params_text(path: Path) -> str:
    """The text of the params file ``path``, UTF-8 (as DVC reads it); ParamsError for a
    folder, an unreadable file or another encoding (a break-it session: tracebacks for a
    folder and for the UTF-16 a Windows editor saves)."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ParamsError(f"{path} is a folder, not a params file: pass the YAML file "
                          "(e.g. --params params.yaml)") from None
    except OSError as exc:
        raise ParamsError(f"{path} cannot be read ({exc.strerror}): check its permissions"
                          ) from None
    encoding = next((name for bom, name in _OTHER_BOMS.items() if data.startswith(bom)), None)
    try:
        if encoding is not None:
            raise UnicodeError(f"it begins with a {encoding} byte-order mark")
        return data.decode("utf-8")
    except UnicodeError as exc:
        raise ParamsError(f"{path} is not UTF-8 text ({exc}): save it as UTF-8, the encoding "
                          "mer and DVC read") from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``."""
    return parse_params(read_params_file(path), str(path))


def read_params_file(path: str | Path = "params.yaml") -> dict[str, Any]:
    """The mapping of sections in the params file ``path``, not yet validated; ParamsError for
    a file that is missing, not UTF-8, not YAML, empty or not a mapping."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found: run mer from the project folder that holds it")
    try:
        raw = yaml.load(_params_text(path), Loader=_UniqueKeyLoader)  # a SafeLoader
    except _DuplicateKey as exc:
        raise ParamsError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    if raw is None:  # no document: an emptied or truncated file, or a pipe read before
        raise ParamsError(f"{path} is empty (no YAML document in it); write `{{}}` in it for "
                          "every default, or delete it and run `mer params --write` to write "
                          "each default out")
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return raw


def tracking_of(args: Any) -> TrackingParams:
    """The tracking section of a command's ``--params`` file, validated alone: `mer ui`,
    `mer promote` and the default `--model` read nothing else, so a mistake elsewhere in the
    file, half-way through an edit, does not stop them (a break-it session: `mer ui` would not
    show the runs over train.svm.trials: five). Read once, as params_of reads the file."""
    read = getattr(args, "read_params_file", None)
    raw = read() if read is not None else read_params_file(args.params)
    section = {"tracking": raw["tracking"]} if raw.get("tracking") is not None else {}
    return parse_params(section, str(args.params)).tracking


def params_of(args: Any) -> Params:
    """The params of a command's ``--params`` file, read once for the whole command: mer's
    entry point gives ``args`` a cached reader, ``read_params``, so a file that reads once
    only (a pipe: ``--params <(...)``), or one edited while the command runs, is the same
    params throughout (a break-it session: `mer train --params <(cat p.yaml)` checked the
    file, then read the emptied pipe again and trained with the defaults). A namespace made
    without it (a test calling a stage's run) reads ``args.params``."""
    read = getattr(args, "read_params", None)
    return read() if read is not None else load_params(args.params)


# The layout of the params file default_params_yaml writes: comments start at this column and
# are wrapped to keep lines within the width.
_COMMENT_COLUMN = 29
_WIDTH = 100
_HEADER = ("# Written by `mer params --write` from src/mer/config.py, which holds every default\n"
           "# and validates every key: an unknown key or a wrong type is an error.\n"
           "# `mer params --check` lists the values that differ from the defaults.\n")


def yaml_value(value: Any) -> str:
    """One JSON-able value as YAML on one line: lists and mappings in flow style."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True,
                          width=float("inf"))
    return text.removesuffix("\n...\n").rstrip("\n")  # a bare scalar ends the document


def _comment(field: FieldInfo) -> list[str]:
    """A field's comment lines: its choices (a Literal's values), its description, and its
    examples as YAML list items."""
    parts = []
    if typing.get_origin(field.annotation) is Literal:
        parts.append(" | ".join(str(a) for a in typing.get_args(field.annotation)))
    if field.description:
        parts.append(field.description)
    text = ": ".join(parts)
    if field.examples:
        text += ", e.g."
    lines = [text] if text else []
    for example in field.examples or ():
        lines += [f"  - {yaml_value(item)}" for item in example]
    return lines


def _commented(line: str, comment: list[str]) -> list[str]:
    if not comment:
        return [line]
    pad = " " * _COMMENT_COLUMN
    text, examples = comment[0], comment[1:]
    # The first line may start further right than the column, after a long value.
    start = max(_COMMENT_COLUMN, len(line) + 1)
    first, *rest = textwrap.wrap(text, _WIDTH - _COMMENT_COLUMN - 2, break_long_words=False,
                                 break_on_hyphens=False,
                                 initial_indent=" " * (start - _COMMENT_COLUMN)) or [""]
    lines = [f"{line.ljust(_COMMENT_COLUMN - 1)} # {first.lstrip()}"]
    return lines + [f"{pad}# {part}" for part in rest + examples]


def _section_lines(model: type[BaseModel], values: dict[str, Any], indent: str) -> list[str]:
    lines = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        comment = _comment(field)
        if isinstance(annotation, type) and issubclass(annotation, Section):
            lines += _commented(f"{indent}{name}:", comment)
            lines += _section_lines(annotation, values[name], indent + "  ")
        else:
            lines += _commented(f"{indent}{name}: {yaml_value(values[name])}", comment)
    return lines


def default_params_yaml() -> str:
    """The default params file: every key of ``Params`` in field order, its description as
    a comment. What ``mer params`` prints and the repository's params.yaml is."""
    defaults = Params().model_dump(mode="json")
    blocks = []
    for name, field in Params.model_fields.items():
        section = field.annotation
        assert isinstance(section, type) and issubclass(section, Section)
        blocks.append("\n".join([f"{name}:", *_section_lines(section, defaults[name], "  ")]))
    return _HEADER + "\n\n".join(blocks) + "\n"


def changed_values(params: Params) -> list[tuple[str, Any, Any]]:
    """(dotted key, value, default) of every leaf key whose value is not the default, in
    field order; values as JSON-able data."""
    return changed_leaves(params.model_dump(mode="json"), Params().model_dump(mode="json"))


class _Absent:
    """A key one of two params dumps lacks (a key added or removed since, or a dict param's
    entry): compared as a value of its own."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT = _Absent()


def changed_leaves(values: Mapping[str, Any], defaults: Mapping[str, Any], prefix: str = ""
                   ) -> list[tuple[str, Any, Any]]:
    """changed_values of two params dumps (``model_dump(mode="json")``), for callers that
    dump the params themselves: (dotted key, value, default) of every leaf that differs, over
    the keys of both (ABSENT where one lacks a key), so that a stage output's record that
    lacks a key, or has one the params no longer have, is a change, not a match. TypeError
    when ``defaults`` is not a mapping."""
    if not isinstance(defaults, Mapping):
        raise TypeError(f"{prefix or 'the record'} is not a mapping")
    found = []
    for key in [*values, *(k for k in defaults if k not in values)]:
        value, default = values.get(key, ABSENT), defaults.get(key, ABSENT)
        if isinstance(value, Mapping) and isinstance(default, Mapping):
            found += changed_leaves(value, default, f"{prefix}{key}.")
        elif value != default:
            found.append((f"{prefix}{key}", value, default))
    return found


# The stage that makes the output each Params.recorded section goes into, and the stages in
# pipeline order: a change to a section is undone by rerunning its stage and the later ones.
MADE_BY = {"data": "data", "labels": "data", "faces": "faces", "features": "features",
           "train": "train", "evaluation": "train"}
PIPELINE_STAGES = ("data", "faces", "features", "train", "evaluate")


def mer_command(stage: str, params_file: str) -> str:
    """'mer faces', or 'mer --params F faces' when the params came from another file than
    params.yaml (quoted for a shell when it needs it)."""
    import shlex

    return ("mer" if params_file == "params.yaml"
            else f"mer --params {shlex.quote(params_file)}") + f" {stage}"


def rerun_commands(stages: Sequence[str], params_file: str) -> str:
    """['faces', 'features'] -> '`mer faces` and `mer features`' (mer_command)."""
    quoted = [f"`{mer_command(stage, params_file)}`" for stage in stages]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"
