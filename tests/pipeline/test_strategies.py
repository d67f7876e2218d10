"""Every gradient mode, out-of-fold method and retrain mode names an implementation that imports, and declares
the facts the stages read from its meta instead of branching on its name."""

import pytest

from core.gradients.registry import GRADIENT_MODES
from core.influence.registry import OOF_METHODS
from core.pipeline.registry import RETRAIN_MODES

FAMILIES = [
    (GRADIENT_MODES, {"stored_outputs", "shared_hidden_space", "oof_from_factors"}),
    (OOF_METHODS, {"needs_model"}),
    (RETRAIN_MODES, {"needs_model"}),
]


@pytest.mark.parametrize(("registry", "meta_keys"), FAMILIES, ids=lambda value: getattr(value, "kind", ""))
def test_every_entry_loads_a_callable_and_declares_its_meta(registry, meta_keys):
    for name in registry:
        assert callable(registry.get(name)), name
        assert meta_keys <= set(registry.entry(name).meta), name


def test_the_meta_says_what_each_mode_is():
    assert GRADIENT_MODES.where(stored_outputs=True) == ["in_sample"]
    assert GRADIENT_MODES.where(oof_from_factors=True) == ["cross_fit"]
    assert GRADIENT_MODES.where(shared_hidden_space=True) == ["in_sample"]
    assert OOF_METHODS.where(needs_model=False) == ["head"]
    assert RETRAIN_MODES.where(needs_model=False) == ["probe"]
