"""benchmarks.bench_compare's subtle flow-image proxy: the composite's params with only the AU
displacement scale changed, valid params for mer's stages."""

import yaml
from benchmarks.bench_compare import COMPOSITE, SUBTLE_INTENSITY, composite_params

from mer.config import parse_params


def test_the_subtle_composite_changes_the_intensity_alone():
    example = yaml.safe_load(COMPOSITE.read_text())
    subtle = yaml.safe_load(composite_params(SUBTLE_INTENSITY))
    assert subtle["data"]["synthetic"].pop("intensity") == SUBTLE_INTENSITY != 1.0
    assert example["data"]["synthetic"].pop("intensity") == 1.0
    assert subtle == example
    params = parse_params(yaml.safe_load(composite_params(SUBTLE_INTENSITY)))
    assert params.data.synthetic.intensity == SUBTLE_INTENSITY
