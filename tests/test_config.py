import pytest

from core.config import DataConfig, DetectConfig, FlagConfig, GradientConfig, RunConfig, TrainConfig
from core.errors import ConfigError


def test_round_trip_and_fingerprint_stability():
    config = RunConfig(detect=DetectConfig(detectors=("l2", "iforest")), flag=FlagConfig(primary="iforest"), seed=3)
    again = RunConfig.from_dict(config.to_dict())
    assert again == config
    assert again.fingerprint() == config.fingerprint()
    assert RunConfig(seed=4).fingerprint() != RunConfig(seed=3).fingerprint()


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: FlagConfig(budget=0), "flag.budget"),
        (lambda: FlagConfig(budget=1.0), "flag.budget"),
        (lambda: RunConfig(detect=DetectConfig(detectors=("l1",)), flag=FlagConfig(primary="iforest")), "flag.primary"),
        (lambda: DetectConfig(detectors=()), "detect.detectors"),
        (lambda: TrainConfig(epochs=0), "train.epochs"),
        (lambda: TrainConfig(optimizer="rmsprop"), "train.optimizer"),
        (lambda: GradientConfig(mode="sometimes"), "gradients.mode"),
        (lambda: GradientConfig(projection="fft"), "gradients.projection"),
        (lambda: DataConfig(test_fraction=1.0), "data.test_fraction"),
        (lambda: DataConfig(noise_rate=-0.1), "data.noise_rate"),
    ],
)
def test_invalid_values_name_the_field(make, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        make()


def test_unknown_keys_are_refused():
    raw = RunConfig().to_dict()
    raw["train"]["epochz"] = 3
    with pytest.raises(ConfigError, match="epochz"):
        RunConfig.from_dict(raw)
