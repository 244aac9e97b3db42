"""benchmarks.bench_compare: the subtle flow-image proxy (the composite's params with only the AU
displacement scale changed, valid params for mer's stages) and the strongest opt-in setting's
rows (valid params; ratios to the default run's best reference)."""

import pytest
import yaml
from benchmarks.bench_compare import (
    COMPOSITE,
    REPO,
    STRONGEST,
    SUBTLE_INTENSITY,
    composite_params,
    measures_strongest,
    rows_of,
    with_overrides,
)

from mer.config import TrainParams, load_params, parse_params


def test_the_subtle_composite_changes_the_intensity_alone():
    example = yaml.safe_load(COMPOSITE.read_text())
    subtle = yaml.safe_load(composite_params(SUBTLE_INTENSITY))
    assert subtle["data"]["synthetic"].pop("intensity") == SUBTLE_INTENSITY != 1.0
    assert example["data"]["synthetic"].pop("intensity") == 1.0
    assert subtle == example
    params = parse_params(yaml.safe_load(composite_params(SUBTLE_INTENSITY)))
    assert params.data.synthetic.intensity == SUBTLE_INTENSITY


def _runs(*uf1_uar):
    return [{"uf1": uf1, "uar": uar, "fold_sd_uar": 0.1} for uf1, uar in uf1_uar]


def test_a_variants_rows_are_ratios_to_the_best_reference_of_the_default_run():
    default = {"ststnet": _runs((0.70, 0.72), (0.72, 0.74)),
               "off-apexnet": _runs((0.78, 0.80), (0.78, 0.80)),
               "hybrid": _runs((0.79, 0.80), (0.79, 0.80))}
    variant = {"cnn": _runs((0.82, 0.84), (0.80, 0.84)), "hybrid": _runs((0.85, 0.88),
                                                                        (0.85, 0.88))}
    rows = {r["benchmark"]: r for r in rows_of("frames", variant, references_from=default,
                                               label=STRONGEST[0])}
    label = f"frames: hybrid ({STRONGEST[0]})"
    assert set(rows) == {label, f"frames: cnn ({STRONGEST[0]})"}
    assert rows[label]["value"] == pytest.approx(0.85 / 0.78)
    assert rows[label]["unit"] == "x off-apexnet UF1"
    assert "(1.100 x off-apexnet)" in rows[label]["note"]  # UAR 0.88 / 0.80
    assert rows[f"frames: cnn ({STRONGEST[0]})"]["value"] == pytest.approx(0.81 / 0.78)
    # without references_from, a run's own references are the yardstick, unlabelled
    own = {r["benchmark"]: r["value"] for r in rows_of("frames", default)}
    assert own["frames: off-apexnet"] == pytest.approx(1.0)
    assert own["frames: hybrid"] == pytest.approx(0.79 / 0.78)


def test_only_a_default_run_measures_the_strongest_setting_and_its_params_are_valid():
    assert measures_strongest(None, None, None) and measures_strongest(None, None, {})
    assert not measures_strongest(("svm",), None, None)
    assert not measures_strongest(None, ("cnn",), None)
    assert not measures_strongest(None, None, {"train.cnn.ensemble": "1"})
    _, experts, models, overrides = STRONGEST
    train = with_overrides(load_params(REPO / "params.yaml").train, overrides)
    assert train.cnn.pretrain.clips > 0
    data = train.model_dump(mode="json") | {"models": list(models),
                                             "hybrid": {"experts": list(experts)}}
    validated = TrainParams.model_validate(data)  # what compare's learners are built from
    assert (validated.models, validated.hybrid.experts) == (models, experts)
