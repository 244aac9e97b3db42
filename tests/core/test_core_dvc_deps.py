"""dvc.yaml lists exactly what each stage runs and reads, so `dvc repro` never calls stale
results "up to date" and never reruns a stage for a change it does not see.

- Code: each stage's code is derived from the imports of its command module (`mer <stage>`:
  mer.cli, then mer.stages.<stage>), followed through every mer module it imports, at module
  level or inside a function. dvc.yaml must list every such file (a folder counts for the files
  in it) and nothing else under src/: a folder only when the stage runs every file in it.
- Params: each stage is run for real, in this process, on a tiny embedded project, with every
  params section recording which keys are read (pydantic validation at load time and the
  provenance MLflow logs are not reads that decide an output). dvc.yaml must list exactly
  the keys read: a section when every key of it is read.
- Files: every path of mer.paths that a stage module names is one of its deps or outs.
"""

from __future__ import annotations

import ast
import sys
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from test_core_layers import MER, SRC

from mer import config, paths
from mer.core.code import imports_of, modules, packages_of
from mer.models import pretrain

REPO = SRC.parent
DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
STAGES = tuple(DVC)


# ---- code ---------------------------------------------------------------------------------

def code_of(stage: str) -> set[Path]:
    """Every mer source file that `mer <stage>` imports, transitively."""
    known = modules()
    cli_own = {m for m in imports_of(known["mer.cli"]) if m in known}  # not every stage's code
    # a stage runs `mer <stage>`, whose module is mer.stages.<stage with '_' for '-'>
    todo, seen = [f"mer.stages.{stage.replace('-', '_')}", "mer.cli", *cli_own], set()
    while todo:
        module = todo.pop()
        if module in seen or module not in known:
            continue
        seen.add(module)
        todo.extend(packages_of(module))
        if module != "mer.cli":
            todo.extend(m for m in imports_of(known[module]) if m in known)
    return {known[m] for m in seen}


def listed_code(stage: str) -> dict[str, set[Path]]:
    """dvc.yaml's deps under src/: each entry -> the .py files it covers."""
    listed = {}
    for dep in DVC[stage].get("deps", []):
        if not str(dep).startswith("src/"):
            continue
        path = REPO / dep
        assert path.exists(), f"stage {stage}: dep {dep} does not exist"
        listed[dep] = set(path.rglob("*.py")) if path.is_dir() else {path}
    return listed


@pytest.mark.parametrize("stage", STAGES)
def test_dvc_lists_exactly_the_code_a_stage_runs(stage):
    runs = code_of(stage)
    listed = listed_code(stage)
    covered = set().union(*listed.values()) if listed else set()
    missing = sorted(str(p.relative_to(REPO)) for p in runs - covered)
    assert not missing, f"stage {stage} runs code dvc.yaml does not list: {missing}"
    unused = sorted(dep for dep, files in listed.items() if files and not files <= runs)
    assert not unused, (f"stage {stage}: dvc.yaml lists {unused}, but the stage does not run "
                        "(all of) it; list the files it runs")


def test_the_synthetic_faces_are_listed_where_they_are_drawn():
    assert "src/mer/assets/faces" in DVC["synthesize"]["deps"]


# ---- files --------------------------------------------------------------------------------

def paths_named(module_file: Path) -> set[str]:
    """mer.paths constants a module names (paths.MANIFEST -> 'data/manifest.parquet')."""
    names = {node.attr for node in ast.walk(ast.parse(module_file.read_text()))
             if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
             and node.value.id == "paths"}
    return {Path(getattr(paths, n)).as_posix() for n in names if n.isupper()}


@pytest.mark.parametrize("stage", [s for s in STAGES if s != "synthesize"])
def test_dvc_lists_every_pipeline_file_a_stage_names(stage):
    declared = set()
    for kind in ("deps", "outs", "metrics", "plots"):
        for entry in DVC[stage].get(kind, []):
            declared.add(next(iter(entry)) if isinstance(entry, dict) else str(entry))
    named = paths_named(MER / "stages" / f"{stage.replace('-', '_')}.py")
    named -= {p.as_posix() for p in paths.CACHES}
    assert named - declared == set(), f"stage {stage} names {sorted(named - declared)}"


def test_no_stage_declares_a_cache():
    """data/folds and data/pretrain are mer's caches, keyed by what made each entry: as DVC
    outputs (or deps), a `dvc exp run --temp` or queued copy, which starts without them, reran
    the train stage and pretrained again for a change of spotting params alone."""
    caches = {p.as_posix() for p in paths.CACHES}
    for stage, spec in DVC.items():
        for kind in ("deps", "outs", "metrics", "plots"):
            for entry in spec.get(kind, []):
                name = next(iter(entry)) if isinstance(entry, dict) else str(entry)
                assert not any(name == c or name.startswith(f"{c}/") for c in caches), \
                    f"stage {stage} {kind}: {name}"


# ---- params -------------------------------------------------------------------------------

def _section_of(annotation: typing.Any) -> type[config.Section] | None:
    items = [a for a in typing.get_args(annotation) if a is not Ellipsis]
    target = items[0] if len(items) == 1 else annotation
    return target if isinstance(target, type) and issubclass(target, BaseModel) else None


def _walk(cls: type[config.Section], prefix: str, prefixes: dict, leaves: dict) -> None:
    prefixes[cls] = prefix
    for name, field in cls.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        section = _section_of(field.annotation)
        if section is config.CorpusSource:  # data.sources: a list, read as one key
            leaves[key] = {key}
            _walk(section, key, prefixes, {})
        elif section is not None:
            _walk(section, key, prefixes, leaves)
        else:
            leaves[key] = {key}


PREFIXES: dict[type, str] = {}
LEAVES: dict[str, set[str]] = {}
_walk(config.Params, "", PREFIXES, LEAVES)


def leaves_under(key: str) -> set[str]:
    return {leaf for k, v in LEAVES.items() if k == key or k.startswith(f"{key}.") for leaf in v}


# A section dumped (fold cache keys) or pickled (the registered model's bundle) is read whole.
WHOLE_READS = ("model_dump", "model_dump_json", "__reduce_ex__", "__getstate__")
# Keys a stage reads only on a branch the tiny embedded run does not take.
BRANCH_ONLY = {
    "data.flow_channels": "flow-image corpora only",
    "faces.min_correlation": "only when dlib misses the face on an apex or offset frame",
    "features.image_grid": "flow-image corpora only",
    "evaluation.train_corpora": "evaluation.protocol cross-corpus only",
    "evaluation.test_corpora": "evaluation.protocol cross-corpus only",
    **{f"train.references.{key}": "only when train.models or train.hybrid.experts names a "
       "reference net" for key in config.ReferenceParams.model_fields},
    **{f"train.svm.{key}": "register: only when train.hybrid.experts names svm"
       for key in config.SvmParams.model_fields},
}


class ReadKeys:
    """Records params keys read by mer code while ``on``."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.on = False
        self.loading = 0
        self.corpus = 0  # inside mer.models.pretrain.build_corpus

    def record(self, section: BaseModel, name: str, caller: str) -> None:
        if not self.on or self.loading or not caller.startswith("mer.") \
                or caller.startswith("mer.tracking"):  # provenance logged to MLflow
            return
        if self.corpus and isinstance(section, (config.DataParams, config.SyntheticParams)):
            return  # the pretraining corpus's own data params, built from train.cnn.pretrain
        prefix = PREFIXES.get(type(section))
        if prefix is None:
            return
        if prefix == "data.sources":
            self.keys.add(prefix)
        elif name in WHOLE_READS:
            self.keys |= leaves_under(prefix) if prefix else set(LEAVES)
        elif name in type(section).model_fields:
            key = f"{prefix}.{name}" if prefix else name
            if key in LEAVES:
                self.keys.add(key)


@pytest.fixture(scope="module")
def read_keys(tmp_path_factory):
    """Keys read by each stage, run in order on a tiny embedded project."""
    from dvc_helpers import tiny_params
    from mer.cli import main

    project = tmp_path_factory.mktemp("read-keys")
    params = tiny_params()  # every stage's workers 1 but spotting's: every read in this process
    params["spotting"]["workers"] = 1
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    recorder = ReadKeys()
    original_get = config.Section.__getattribute__
    original_parse = config.parse_params

    def getattribute(self, name):
        recorder.record(self, name, sys._getframe(1).f_globals.get("__name__", ""))
        return original_get(self, name)

    def parse(*args, **kwargs):
        recorder.loading += 1
        try:
            return original_parse(*args, **kwargs)
        finally:
            recorder.loading -= 1

    original_corpus = pretrain.build_corpus

    def corpus(*args, **kwargs):
        recorder.corpus += 1
        try:
            return original_corpus(*args, **kwargs)
        finally:
            recorder.corpus -= 1

    patch = pytest.MonkeyPatch()
    patch.chdir(project)
    patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    patch.setattr(config.Section, "__getattribute__", getattribute)
    patch.setattr(config, "parse_params", parse)
    patch.setattr(pretrain, "build_corpus", corpus)
    found = {}
    try:
        for stage in STAGES:
            recorder.keys, recorder.on = set(), True
            assert main(DVC[stage]["cmd"].split()[1:]) == 0, stage  # `mer <stage> ...`
            recorder.on = False
            found[stage] = recorder.keys
    finally:
        patch.undo()
    return found


def listed_params(stage: str) -> set[str]:
    listed = set()
    for key in DVC[stage].get("params", []):
        if key == {"params.yaml": None}:  # the whole file (the params stage)
            listed |= set(LEAVES)
            continue
        assert key in LEAVES or leaves_under(key), f"stage {stage}: {key} is no params key"
        listed |= leaves_under(key)
    return listed


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_dvc_lists_exactly_the_params_a_stage_reads(read_keys, stage):
    read, listed = read_keys[stage], listed_params(stage)
    assert not read - listed, f"stage {stage} reads {sorted(read - listed)}, not in dvc.yaml"
    unread = listed - read - set(BRANCH_ONLY)
    assert not unread, f"stage {stage}: dvc.yaml lists {sorted(unread)}, which it never reads"
