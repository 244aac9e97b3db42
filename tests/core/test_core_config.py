"""params.yaml validation: one load at the edge, one clear error naming the key."""

from pathlib import Path

import pytest
import yaml

from mer.config import Params, check_data_paths, load_params, parse_params
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


@pytest.mark.parametrize(("raw", "key"), [
    ({"train": {"cnn": {"epochs": True}}}, "train.cnn.epochs"),
    ({"train": {"cnn": {"lr": False}}}, "train.cnn.lr"),
    ({"data": {"seed": True}}, "data.seed"),
    ({"data": {"synthetic": {"subjects": True}}}, "data.synthetic.subjects"),
    ({"faces": {"eye_row": False}}, "faces.eye_row"),
    ({"train": {"svm": {"trials": True}}}, "train.svm.trials"),
])
def test_a_boolean_is_not_a_number(raw, key):
    # pydantic's lax mode would read `epochs: true` as 1 epoch
    with pytest.raises(ParamsError) as err:
        parse_params(raw)
    assert f"{key}: expected a number, not true/false" in str(err.value)


def test_every_numeric_param_refuses_a_boolean():
    # One mechanism (Section's validator) covers every int/float field of every section.
    from mer.config import Section, _takes_number

    def sections(model):
        yield model
        for field in model.model_fields.values():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, Section):
                yield from sections(annotation)

    checked = 0
    for section in set(sections(Params)):
        for name, field in section.model_fields.items():
            if _takes_number(field.annotation):
                with pytest.raises(ValueError, match="not true/false"):
                    section.model_validate({name: True})
                checked += 1
    assert checked > 40


def test_booleans_and_numbers_still_read():
    params = parse_params({"train": {"cnn": {"apex_stream": True, "epochs": 3, "lr": 1,
                                             "augment": {"enabled": False}}}})
    assert params.train.cnn.apex_stream is True and params.train.cnn.epochs == 3
    assert params.train.cnn.lr == 1.0 and params.train.cnn.augment.enabled is False


def test_synthetic_clips_error_names_full_keys():
    with pytest.raises(ParamsError) as err:
        parse_params({"data": {"synthetic": {"clips": 10, "subjects": 26}}})
    assert "data.synthetic.clips (10) must be at least 2 per subject" in str(err.value)
    assert "data.synthetic.subjects 26" in str(err.value)


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
