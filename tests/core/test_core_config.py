"""params.yaml validation: one load at the edge, one clear error naming the key."""

import codecs
import math
import re
import typing
from pathlib import Path

import pytest
import yaml

from mer.cli import main
from mer.config import (
    REFERENCES,
    DataParams,
    Params,
    Section,
    TrainParams,
    check_data_paths,
    default_params_yaml,
    load_params,
    parse_params,
)
from mer.errors import ParamsError

REPO = Path(__file__).resolve().parents[2]


def test_repo_params_yaml_is_valid_and_complete():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    params = load_params(REPO / "params.yaml")
    # Every section the code knows is written out in params.yaml, so DVC tracks it.
    assert set(raw) == set(Params.model_fields)
    assert params.data.source == "synthetic"


def test_misspelt_key_is_named_with_a_suggestion():
    with pytest.raises(ParamsError) as err:
        parse_params({"data": {"sourse": "synthetic"}})
    assert "data.sourse" in str(err.value)
    assert "did you mean 'source'" in str(err.value)


def test_unknown_section_is_named():
    with pytest.raises(ParamsError, match="unknown key 'trian'"):
        parse_params({"trian": {}})


def test_wrong_type_names_key_and_value():
    with pytest.raises(ParamsError) as err:
        parse_params({"train": {"cnn": {"epochs": "many"}}})
    assert "train.cnn.epochs" in str(err.value)
    assert "'many'" in str(err.value)


@pytest.mark.parametrize(("value", "message"), [
    ("svm", "params.yaml: train.models is a list, got 'svm': write it in brackets, e.g. "
            "models: [svm] (dvc exp run -S 'train.models=[svm]')"),
    ([], "params.yaml: train.models lists 0, it needs at least 1 item (got [])"),
])
def test_a_list_param_given_something_else_says_how_to_write_a_list(value, message):
    """A break-it session: `dvc exp run -S train.models=svm` said "Input should be a valid
    tuple", a type the user never wrote; `=[]` "Tuple should have at least 1 item after
    validation"."""
    with pytest.raises(ParamsError) as err:
        parse_params({"train": {"models": value}})
    assert str(err.value) == message


def test_every_mistake_is_reported_at_once():
    with pytest.raises(ParamsError) as err:
        parse_params({"faces": {"size": 4}, "labels": {"scheme": "casme2-7"}})
    message = str(err.value)
    assert "faces.size" in message and "labels.scheme" in message


def test_missing_dataset_root_names_the_key(tmp_path):
    params = parse_params({"data": {"source": "casme2", "root": str(tmp_path / "nope")}})
    with pytest.raises(ParamsError, match=r"data.root: .*nope does not exist"):
        check_data_paths(params.data)


def test_a_serving_machine_needs_no_corpus(tmp_path):
    # predict/promote load params too; only the stages that read the corpus check it.
    params = parse_params({"data": {"source": "casme2", "root": str(tmp_path / "nope")}})
    assert params.data.source == "casme2"


def test_missing_params_file_says_where_to_run(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "params.yaml")


def test_non_mapping_yaml_is_rejected(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ParamsError, match="expected a mapping"):
        load_params(path)


def test_a_params_file_is_read_once_for_a_whole_command(tmp_path, monkeypatch, capsys):
    """A break-it session: `mer train --params <(cat p.yaml)` checked the pipe's params, then
    read the emptied pipe again and trained with every default, without a word; an empty
    file meant every default too."""
    import os

    monkeypatch.chdir(tmp_path)
    read, write = os.pipe()
    os.write(write, b"data: {source: flow-images, root: not-here}\n")
    os.close(write)
    try:
        assert main(["--params", f"/dev/fd/{read}", "data"]) == 2
    finally:
        os.close(read)
    assert "not-here" in capsys.readouterr().err  # the pipe's data.root, not the default's
    (tmp_path / "params.yaml").write_text("# every key commented out\n")
    assert main(["data"]) == 2
    assert ("params.yaml is empty (no YAML document in it); write `{}` in it for every "
            "default, or delete it and run `mer params --write`") in capsys.readouterr().err


@pytest.mark.parametrize(("raw", "key"), [
    ({"train": {"cnn": {"epochs": True}}}, "train.cnn.epochs"),
    ({"train": {"cnn": {"lr": False}}}, "train.cnn.lr"),
    ({"data": {"seed": True}}, "data.seed"),
    ({"data": {"synthetic": {"subjects": True}}}, "data.synthetic.subjects"),
    ({"faces": {"eye_row": False}}, "faces.eye_row"),
    ({"train": {"svm": {"trials": True}}}, "train.svm.trials"),
    ({"train": {"references": {"lr": {"ststnet": True, "off-apexnet": 1, "sssnet": 1}}}},
     "train.references.lr"),
])
def test_a_boolean_is_not_a_number(raw, key):
    # pydantic's lax mode would read `epochs: true` as 1 epoch
    with pytest.raises(ParamsError) as err:
        parse_params(raw)
    assert f"{key}: expected a number, not true/false" in str(err.value)


def sections(model=Params):
    """``model`` and every params section inside it, depth first (repeats included)."""
    from mer.config import Section

    yield model
    for field in model.model_fields.values():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            yield from sections(annotation)


def test_every_numeric_param_refuses_a_boolean():
    # One mechanism (Section's validator) covers every int/float field of every section.
    from mer.config import _takes_number

    checked = 0
    for section in set(sections()):
        for name, field in section.model_fields.items():
            if _takes_number(field.annotation):
                with pytest.raises(ValueError, match="not true/false"):
                    section.model_validate({name: True})
                checked += 1
    assert checked > 40


def test_every_float_param_refuses_infinity_and_nan():
    """A break-it session: `spotting.noise_floor: .inf` passed its lower bound and spotted
    nothing without a word; `.inf` passed every float's lower bound (`train.cnn.lr: .inf`)."""
    checked = 0
    for section in set(sections()):
        for name, field in section.model_fields.items():
            if field.annotation is float:
                for value in (float("inf"), float("nan")):
                    # (a frame rate's own rule refuses them with its range: h58 G4)
                    with pytest.raises(ValueError, match=r"finite number|no video's rate"):
                        section.model_validate({name: value})
                checked += 1
    assert checked > 20
    with pytest.raises(ParamsError, match=r"spotting.noise_floor: Input should be a finite "
                                          r"number \(got inf\)"):
        parse_params({"spotting": {"noise_floor": float("inf")}})


def test_a_macro_window_longer_than_any_expression_is_refused():
    """A break-it session: spotting.macro_window 1e18 overflowed `mer spot --follow`'s frame
    buffer with a traceback."""
    with pytest.raises(ParamsError, match=r"spotting.macro_window: Input should be less than "
                                          r"or equal to 10 \(got 1e\+18\)"):
        parse_params({"spotting": {"macro_window": 1e18}})
    assert parse_params({"spotting": {"macro_window": 10}}).spotting.macro_window == 10


@pytest.mark.parametrize(("fps", "why"), [
    (2, "2 frames/s: a micro interval (the apex +- 1 frame at the least) would span 1 s"),
    (1e9, "1e+09 frames/s: faster than spotting's windows and frame buffers are sized for"),
    (0, "0 frames/s: no video's rate"),
    (math.nan, "nan frames/s: no video's rate"),
    (-math.inf, "-inf frames/s: no video's rate"),
    ("inf", "inf frames/s: no video's rate"),
    ("2", "2 frames/s: a micro interval")])
def test_the_synthetic_long_videos_rate_is_one_spotting_reads(fps, why):
    """A break-it session (h56): spotting.synthetic.fps 2 or 1e9 was taken, a corpus written
    at it, and refused only by `mer spot-eval`, with advice about --fps and a file's header.
    NaN and infinity (YAML's .nan and .inf, or text) were refused as no "finite number",
    without the range (h58 G4)."""
    with pytest.raises(ParamsError, match=rf"spotting.synthetic.fps: .*{re.escape(why)}.*; "
                                          r"spotting reads 4 to 10000 frames/s"):
        parse_params({"spotting": {"synthetic": {"fps": fps}}})
    assert parse_params({"spotting": {"synthetic": {"fps": 4}}}).spotting.synthetic.fps == 4


def test_booleans_and_numbers_still_read():
    params = parse_params({"train": {"cnn": {"apex_stream": True, "epochs": 3, "lr": 1,
                                             "augment": {"enabled": False}}}})
    assert params.train.cnn.apex_stream is True and params.train.cnn.epochs == 3
    assert params.train.cnn.lr == 1.0 and params.train.cnn.augment.enabled is False


def test_reference_nets_are_opt_in_and_never_alone():
    assert not set(TrainParams().models) & set(REFERENCES)
    models = parse_params({"train": {"models": ["hybrid", *REFERENCES]}}).train.models
    assert models == ("hybrid", *REFERENCES)
    with pytest.raises(ParamsError, match="only reference nets; add svm, cnn or hybrid"):
        parse_params({"train": {"models": ["ststnet", "sssnet"]}})


def test_reference_rates_name_every_net():
    every = {"ststnet": 0.01, "off-apexnet": 0.001, "sssnet": 0.001}
    with pytest.raises(ParamsError, match=r"references\.lr has no value for off-apexnet, sssnet"):
        parse_params({"train": {"references": {"lr": {"ststnet": 0.01}}}})
    with pytest.raises(ParamsError, match=r"train\.references\.lr: sssnet must be above 0"):
        parse_params({"train": {"references": {"lr": {**every, "sssnet": 0}}}})
    with pytest.raises(ParamsError, match=r"train\.references\.lr\.alexnet"):
        parse_params({"train": {"references": {"lr": {**every, "alexnet": 0.1}}}})
    shuffled = dict(reversed(every.items()))
    lr = parse_params({"train": {"references": {"lr": shuffled}}}).train.references.lr
    assert list(lr) == list(REFERENCES)  # one key order, whatever the file's


def test_synthetic_clips_error_names_full_keys():
    with pytest.raises(ParamsError) as err:
        parse_params({"data": {"synthetic": {"clips": 10, "subjects": 26}}})
    assert "data.synthetic.clips (10) must be at least 2 per subject" in str(err.value)
    assert "data.synthetic.subjects 26" in str(err.value)


def test_a_ray_address_without_the_ray_backend_is_refused():
    """The issue: train.ray_address under train.backend local was ignored without a word."""
    with pytest.raises(ParamsError, match=r"train.ray_address \(10.0.0.5:6379\) is for "
                                          r"train.backend: ray, but train.backend is local"):
        parse_params({"train": {"ray_address": "10.0.0.5:6379"}})
    parse_params({"train": {"backend": "ray", "ray_address": "10.0.0.5:6379"}})


def test_too_few_pretraining_clips_name_the_pretraining_keys():
    """The issue: clips 100 passed `mer params --check`, then `mer train` ended in a
    traceback about data.synthetic.clips, a key the user never set."""
    with pytest.raises(ParamsError, match=r"train.cnn.pretrain.clips \(100\) must be 0 \(no "
                                          r"pretraining\) or at least 2 per pretraining subject "
                                          r"\(104 for train.cnn.pretrain.subjects 52\)"):
        parse_params({"train": {"cnn": {"pretrain": {"clips": 100}}}})
    parse_params({"train": {"cnn": {"pretrain": {"clips": 104}}}})


def test_long_videos_too_short_for_their_expressions_are_a_params_error():
    """The issue: spotting.synthetic.seconds 8 with the default 4 micro + 3 macro passed the
    params check and ended in a traceback from `mer spot-synthesize`."""
    with pytest.raises(ParamsError, match=r"spotting.synthetic: 4 micro- and 3 macro-"
                                          r"expressions need up to 14.8 s .*longer than "
                                          r"spotting.synthetic.seconds 8: lengthen it"):
        parse_params({"spotting": {"synthetic": {"seconds": 8}}})
    parse_params({"spotting": {"synthetic": {"seconds": 15}}})
    # not generated when spotting reads a real corpus: no reason to stop any command
    parse_params({"spotting": {"source": "casme_sq", "synthetic": {"seconds": 8}}})


@pytest.mark.parametrize(("evaluation", "keys"), [
    ({"train_corpora": ["casme2"]}, ["evaluation.train_corpora", "evaluation.protocol"]),
    ({"protocol": "cross-corpus", "train_corpora": ["casme2"], "test_corpora": ["casme2"]},
     ["evaluation.train_corpora", "evaluation.test_corpora"]),
])
def test_evaluation_errors_name_full_keys(evaluation, keys):
    with pytest.raises(ParamsError) as err:
        parse_params({"evaluation": evaluation})
    for key in keys:
        assert key in str(err.value)


# --- one source of defaults: src/mer/config.py renders params.yaml (`mer params`) ---

def _leaf_fields(model, prefix=""):
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            yield from _leaf_fields(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def test_repo_params_yaml_is_the_rendered_defaults():
    assert (REPO / "params.yaml").read_text(encoding="utf-8") == default_params_yaml(), (
        "params.yaml differs from the defaults in src/mer/config.py: change a default or "
        "comment there, then run `mer params --write --force`")


def test_rendered_defaults_load_to_the_defaults():
    text = default_params_yaml()
    assert yaml.safe_load(text) == Params().model_dump(mode="json")
    assert text.startswith("# Written by `mer params")
    assert "  models: [svm, cnn, hybrid] # plus the majority floor" in text
    assert "    c_max: 1000.0            # " in text and "    lr: 0.003" in text


def test_every_leaf_key_is_documented():
    # A Literal's values are rendered as its choices; every other key needs a description.
    undocumented = [key for key, field in _leaf_fields(Params)
                    if not field.description and typing.get_origin(field.annotation)
                    is not typing.Literal]
    assert not undocumented, f"give these a Field(description=...): {undocumented}"


def test_every_key_is_commented_in_the_rendered_file():
    lines = default_params_yaml().splitlines()
    leaves = [line for line in lines if line.startswith("  ") and not line.endswith(":")
              and not line.lstrip().startswith("#")]
    assert len(leaves) == len(list(_leaf_fields(Params)))
    assert all(" # " in line for line in leaves)


def test_sources_example_is_valid():
    (example,) = DataParams.model_fields["sources"].examples
    assert [s.source for s in DataParams(sources=example).sources] == ["casme2", "samm", "smic"]
    assert "#   - {source: samm, root: corpora/SAMM}" in default_params_yaml()


def test_mer_params_prints_the_defaults(capsys):
    assert main(["params"]) == 0
    assert capsys.readouterr().out == default_params_yaml()


def test_mer_params_check_lists_changed_keys(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["params", "--write"]) == 0
    capsys.readouterr()
    assert main(["params", "--check"]) == 0
    assert capsys.readouterr().out == "params.yaml: all defaults\n"

    raw = yaml.safe_load((tmp_path / "params.yaml").read_text())
    raw["train"]["cnn"]["epochs"] = 5
    raw["train"]["models"] = ["svm"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    assert main(["params", "--check"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "train.models: [svm] (default: [svm, cnn, hybrid])",
        "train.cnn.epochs: 5 (default: 30)",
    ]


def test_mer_params_check_reports_an_invalid_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("train:\n  cnn:\n    epochs: 0\n")
    assert main(["params", "--check"]) == 2
    assert "train.cnn.epochs" in capsys.readouterr().err


def test_mer_params_check_reports_a_missing_corpus_path_and_where_it_looked(tmp_path,
                                                                          monkeypatch, capsys):
    """The issue: `mer params --check` passed a data.root that did not exist, which `mer
    data` then refused; and a relative path did not say it is read from the folder mer runs
    in (not the params file's)."""
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "params.yaml").write_text("data:\n  source: casme2\n  root: CASME2\n")
    monkeypatch.chdir(tmp_path)
    assert main(["--params", "project/params.yaml", "params", "--check"]) == 2
    assert (f"data.root: CASME2 does not exist in {tmp_path} (paths in params files are "
            "relative to the folder mer runs in: run it in the project folder)"
            in capsys.readouterr().err)
    (tmp_path / "CASME2").mkdir()
    assert main(["--params", "project/params.yaml", "params", "--check"]) == 0


def test_mer_params_check_reports_a_missing_spotting_corpus_path(tmp_path, monkeypatch,
                                                                 capsys):
    """The re-check: the README says `mer params --check` checks that the corpus paths it
    names exist; a spotting.root or spotting.annotations that did not exist passed (rc 0),
    and `mer spot-eval` then failed on it."""
    monkeypatch.chdir(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text("spotting:\n  source: casme_sq\n  root: long\n")
    assert main(["params", "--check"]) == 2
    assert (f"spotting.root: long does not exist in {tmp_path} (paths in params files are "
            "relative to the folder mer runs in" in capsys.readouterr().err)
    assert main(["spot-eval"]) == 2  # the same check, before anything is read or logged
    assert "spotting.root: long does not exist" in capsys.readouterr().err
    (tmp_path / "long").mkdir()
    params.write_text("spotting:\n  source: casme_sq\n  root: long\n  annotations: wb.xlsx\n")
    assert main(["params", "--check"]) == 2
    assert "spotting.annotations: wb.xlsx does not exist" in capsys.readouterr().err
    (tmp_path / "wb.xlsx").write_bytes(b"")
    assert main(["params", "--check"]) == 0


def test_the_shipped_composite_example_passes_the_check_before_synthesize(tmp_path,
                                                                         monkeypatch, capsys):
    """The issue: examples/megc2019-synthetic.yaml in a new project failed `mer params
    --check` ('data.root: data/synthetic does not exist ... point it at your corpora copy'):
    the check knew only data.source synthetic as the embedded data, not the composite."""
    example = Path(__file__).resolve().parents[2] / "examples" / "megc2019-synthetic.yaml"
    (tmp_path / "params.yaml").write_text(example.read_text())
    monkeypatch.chdir(tmp_path)
    assert main(["params", "--check"]) == 0, capsys.readouterr().err


def test_the_check_refuses_a_composite_source_that_mer_synthesize_does_not_write(
        tmp_path, monkeypatch, capsys):
    """The issue: the shipped composite example with smic dropped from data.synthetic.corpora
    passed `mer params --check`; `mer synthesize` then refused it (data.sources reads smic from
    data/synthetic, which it would not write). The check says so first."""
    example = Path(__file__).resolve().parents[2] / "examples" / "megc2019-synthetic.yaml"
    text = example.read_text().replace("corpora: [casme2, samm, smic]", "corpora: [casme2, samm]")
    (tmp_path / "params.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    assert main(["params", "--check"]) == 2
    assert ("data.synthetic.corpora (casme2, samm) does not write smic: add smic to "
            "data.synthetic.corpora" in capsys.readouterr().err)


def test_cross_corpus_names_take_the_spellings_a_dataset_column_takes():
    """The issue: a CSV's dataset column took 'SAMM' and 'CASME II', but
    evaluation.test_corpora [SAMM] was refused ('Input should be ... (got 'SAMM')')."""
    params = parse_params({"data": {"source": "flow-images", "root": "flows"},
                           "evaluation": {"protocol": "cross-corpus",
                                          "train_corpora": ["CASME II", "SMIC-HS"],
                                          "test_corpora": ["SAMM"]}})
    assert params.evaluation.train_corpora == ("casme2", "smic")
    assert params.evaluation.test_corpora == ("samm",)
    with pytest.raises(ParamsError, match=r"evaluation\.test_corpora lists samm more than once"):
        parse_params({"evaluation": {"protocol": "cross-corpus", "train_corpora": ["casme2"],
                                     "test_corpora": ["samm", "SAMM"]}})


def test_spotting_regions_are_the_facial_regions_mer_draws():
    """The issue: spotting.regions [nose, brows] passed `mer params --check` and failed in
    `mer spot` on the first face found. An unknown region is a params error naming the
    choices, which are the regions mer.features.regions draws."""
    with pytest.raises(ParamsError, match=r"spotting.regions.1: Input should be 'brow_R', "
                       r"'upper_lid_R', .* or 'mouth' \(got 'brows'\)"):
        parse_params({"spotting": {"regions": ["nose", "brows"]}})


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("train: {models: [svm, svm, cnn]}", "train.models lists svm more than once"),
    ("train: {hybrid: {experts: [svm, off-apexnet, svm]}}",
     "train.hybrid.experts lists svm more than once"),
    ("evaluation: {protocol: cross-corpus, train_corpora: [casme2], test_corpora: [samm, "
     "samm]}", "evaluation.test_corpora lists samm more than once; list each once (a corpus "
     "listed twice would be trained on or scored twice)"),
    ("evaluation: {protocol: cross-corpus, train_corpora: [casme2, casme2], test_corpora: "
     "[samm]}", "evaluation.train_corpora lists casme2 more than once"),
    ("data: {synthetic: {corpora: [casme2, samm, casme2]}}",
     "data.synthetic.corpora lists casme2 more than once"),
    ("spotting: {regions: [nose, chin, nose]}", "spotting.regions lists nose more than once"),
    ("spotting: {thresholds: [0.1, 0.2, 0.1]}", "spotting.thresholds lists 0.1 more than once"),
])
def test_a_list_that_is_a_set_refuses_an_item_listed_twice(yaml_text, message):
    """The issue: evaluation.test_corpora [samm, samm] scored every samm clip twice (two
    seeds' predictions pooled, supports doubled), and train.models [svm, svm] passed; only
    train.hybrid.experts refused a repeat. Every list of models, experts, corpora or regions
    does now."""
    with pytest.raises(ParamsError, match=re.escape(message)):
        parse_params(yaml.safe_load(yaml_text))


def test_a_bad_item_is_one_error_not_also_a_too_short_list():
    """The issue: train.hybrid.experts [cnn] said the item was wrong, then that the list
    'should have at least 1 item after validation, not 0 (got ['cnn'])'."""
    with pytest.raises(ParamsError) as err:
        parse_params({"train": {"hybrid": {"experts": ["cnn"]}}})
    assert str(err.value).splitlines() == [
        "params.yaml: train.hybrid.experts.0: Input should be 'svm', 'ststnet', 'off-apexnet' "
        "or 'sssnet' (got 'cnn')"]
    with pytest.raises(ParamsError, match="at least 1 item"):
        parse_params({"train": {"hybrid": {"experts": []}}})  # empty: still said


def test_a_stage_run_outside_the_project_says_where_it_looked(tmp_path, monkeypatch, capsys):
    """The issue: `cd /tmp && mer --params proj/params.yaml faces` said only 'data/manifest.
    parquet not found: run mer data first', though it exists beside that params.yaml."""
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "params.yaml").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["--params", "proj/params.yaml", "faces"]) == 2
    assert (f"data/manifest.parquet not found in {tmp_path} (run mer in the project folder): "
            "run `mer data`") in capsys.readouterr().err


def test_mer_params_write_refuses_an_existing_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("data: {}\n")
    assert main(["params", "--write"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "params.yaml").read_text() == "data: {}\n"

    assert main(["params", "--write", "--force"]) == 0
    assert (tmp_path / "params.yaml").read_text() == default_params_yaml()


def test_mer_params_write_honours_the_global_params_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["--params", "other.yaml", "params", "--write"]) == 0
    assert load_params(tmp_path / "other.yaml") == Params()
    assert not (tmp_path / "params.yaml").exists()


@pytest.mark.parametrize("example", sorted((REPO / "examples").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_examples_validate(example):
    load_params(example)


@pytest.mark.parametrize("example", sorted((REPO / "examples").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_examples_hold_every_key_dvc_yaml_reads(example):
    """DVC reads the params its stages list, and the ${...} dvc.yaml interpolates, from the
    params file itself, without mer's defaults: a params file copied from an example must hold
    every one of them, or `dvc repro` stops ("Parameters ... are missing from 'params.yaml'")."""
    text = (REPO / "dvc.yaml").read_text()
    keys = set(re.findall(r"\$\{([\w.]+)\}", text))
    for stage in yaml.safe_load(text)["stages"].values():
        keys.update(k for k in stage.get("params", []) if isinstance(k, str))
    assert keys >= {"data.root", "spotting.root", "spotting.synthetic", "train.cnn"}
    params = yaml.safe_load(example.read_text())
    for key in sorted(keys):
        value = params
        for part in key.split("."):
            assert isinstance(value, dict) and part in value, f"{example.name} lacks {key}"
            value = value[part]


def test_hybrid_experts_are_named_once_and_known():
    assert TrainParams().hybrid.experts == parse_params({}).train.hybrid.experts
    chosen = parse_params({"train": {"hybrid": {"experts": ["off-apexnet", "svm"]}}})
    assert chosen.train.hybrid.experts == ("off-apexnet", "svm")
    with pytest.raises(ParamsError, match="lists svm more than once"):
        parse_params({"train": {"hybrid": {"experts": ["svm", "svm"]}}})
    with pytest.raises(ParamsError, match=r"train\.hybrid\.experts"):
        parse_params({"train": {"hybrid": {"experts": ["cnn"]}}})  # the CNN is always in
    with pytest.raises(ParamsError, match=r"train\.hybrid\.experts"):
        parse_params({"train": {"hybrid": {"experts": []}}})


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """The issue: `mer params --check | head -3` ended in a BrokenPipeError traceback."""
    import os
    import subprocess
    import sys

    (tmp_path / "params.yaml").write_text("{}\n")
    read, write = os.pipe()
    os.close(read)  # the reader is gone before mer writes a line
    try:
        done = subprocess.run([sys.executable, "-m", "mer.cli", "params"], cwd=tmp_path,
                              stdout=write, stderr=subprocess.PIPE, text=True, check=False,
                              timeout=120)
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == ""


def test_a_params_file_mer_cannot_read_as_dvc_does_is_one_line(tmp_path, capsys):
    """h62 F2/F3: a key written twice (the README's one-line `train:` appended) kept the last
    one's values silently where DVC refuses the file; UTF-16 (what a Windows editor saves)
    and a folder ended in tracebacks."""
    cases = {
        "dup.yaml": (b"train:\n  seed: 5\nlabels:\n  scheme: casme2-5\ntrain:\n  svm:\n"
                     b"    trials: 3\n"),
        "nested.yaml": b"train:\n  svm:\n    trials: 3\n    trials: 4\n",
        "utf16.yaml": "train:\n  seed: 1\n".encode("utf-16"),
        "utf32.yaml": "train:\n  seed: 1\n".encode("utf-32"),
        "latin1.yaml": "tracking:\n  experiment: caf\u00e9\n".encode("latin-1"),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "folder").mkdir()
    expected = {
        "dup.yaml": r"dup.yaml: the key 'train' is written twice, on lines 1 and 5; write it "
                    r"once, merging the two \(DVC refuses the file as it is\)",
        "nested.yaml": r"the key 'trials' is written twice, on lines 3 and 4",
        "utf16.yaml": r"utf16.yaml is not UTF-8 text \(it begins with a UTF-16 byte-order "
                      r"mark\): save it as UTF-8",
        "utf32.yaml": r"it begins with a UTF-32 byte-order mark",
        "latin1.yaml": r"latin1.yaml is not UTF-8 text \(.*\): save it as UTF-8",
        "folder": r"folder is a folder, not a params file",
    }
    for name, message in expected.items():
        assert main(["--params", str(tmp_path / name), "params", "--check"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert re.search(message, err), err
    (tmp_path / "bom.yaml").write_bytes(codecs.BOM_UTF8 + b"train:\n  seed: 1\n")
    assert load_params(tmp_path / "bom.yaml").train.seed == 1  # a UTF-8 BOM is UTF-8
    # a merge key is no duplicate, and a key after it may override a merged one (h66: the
    # check refused '<<' before it was resolved)
    (tmp_path / "merge.yaml").write_text("train:\n  cnn: &c\n    epochs: 5\n  references:\n"
                                         "    <<: *c\n    batch_size: 16\n"
                                         "  svm: {trials: 3}\n")
    merged = load_params(tmp_path / "merge.yaml").train
    assert (merged.cnn.epochs, merged.references.epochs, merged.references.batch_size) == \
        (5, 5, 16)
    (tmp_path / "override.yaml").write_text("train:\n  cnn: &c\n    epochs: 5\n"
                                            "  references:\n    <<: *c\n    epochs: 7\n")
    assert load_params(tmp_path / "override.yaml").train.references.epochs == 7


@pytest.mark.parametrize(("section", "message"), [
    ({"experiment": ""}, r"tracking.experiment is empty: give it a name"),
    ({"experiment": "   "}, r"tracking.experiment is empty"),
    ({"model_name": ""}, r"tracking.model_name is empty"),
    ({"model_name": " mer"}, r"tracking.model_name ' mer' starts or ends with a space"),
    ({"model_name": "team/mer"}, r"tracking.model_name 'team/mer' holds '/', '@' or ':'"),
    ({"model_name": "mer@v1"}, r"holds '/', '@' or ':'"),
])
def test_tracking_names_mlflow_would_refuse_late_are_refused_at_once(section, message):
    """h62 F4: an empty name passed validation; `mer register` then fitted the final model
    and MLflow refused it, blaming the tracking URI; a blank one made an experiment '  '."""
    with pytest.raises(ParamsError, match=message):
        parse_params({"tracking": section})


def test_a_missing_data_annotations_is_named_with_the_synthetic_set(tmp_path):
    """h62 F5: with data.source synthetic, a data.annotations naming no file passed --check,
    and `mer data` said to run `mer synthesize`, which writes no such file."""
    data = parse_params({"data": {"annotations": str(tmp_path / "missing.xlsx")}}).data
    with pytest.raises(ParamsError, match=r"data.annotations: .*missing.xlsx does not exist"):
        check_data_paths(data)
