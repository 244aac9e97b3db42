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
