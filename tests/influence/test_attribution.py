"""Attribution methods (core.influence.attribution): per-class forests, baselines, metrics, run directories."""

import numpy as np
import pytest

from core.detect.class_forests import ClassForests
from core.errors import ConfigError, DataError
from core.influence.attribution import (
    ATTRIBUTION_METHODS,
    AttributionInputs,
    class_detection_auc,
    class_detection_recall,
    datainf_matrix,
    influence_matrices,
    rank_training_samples,
)
from core.influence.methods import influence_scores
from core.influence.run_attribution import (
    ATTRIBUTION_COLUMNS,
    attribute_run,
    run_gradients,
)


def clustered_gradients(n_classes=4, n_train=30, n_test=5, dim=12, spread=0.3, seed=0):
    """Class c's gradients scatter around their own random center: known class structure."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (n_classes, dim))
    train_labels = np.repeat(np.arange(n_classes), n_train)
    test_labels = np.repeat(np.arange(n_classes), n_test)
    train = centers[train_labels] + rng.normal(0, spread, (len(train_labels), dim))
    test = centers[test_labels] + rng.normal(0, spread, (len(test_labels), dim))
    return train.astype(np.float32), train_labels, test.astype(np.float32), test_labels


@pytest.fixture(scope="module")
def clustered():
    train, train_labels, test, test_labels = clustered_gradients()
    inputs = AttributionInputs(train, train_labels, test, seed=0, n_trees=50)
    return inputs, test_labels, influence_matrices(inputs, list(ATTRIBUTION_METHODS))


def test_registry_lists_every_method_and_rejects_unknown_names():
    assert set(ATTRIBUTION_METHODS) == {"oga_class", "oga_sample", "oga", "datainf", "tracing"}
    with pytest.raises(ConfigError, match="valid methods"):
        ATTRIBUTION_METHODS.get("nope")


@pytest.mark.parametrize("method", ["oga_class", "oga", "datainf"])
def test_known_class_structure_is_recovered(clustered, method):
    inputs, test_labels, matrices = clustered
    assert matrices[method].shape == (len(test_labels), len(inputs.train_labels))
    assert class_detection_auc(matrices[method], inputs.train_labels, test_labels).mean() > 0.97
    assert class_detection_recall(matrices[method], inputs.train_labels, test_labels).mean() > 0.9


def test_isolation_similarity_alone_is_local(clustered):
    # Its top-ranked samples are in the right class, but a far sample of the right class is
    # separated at the first splits, so class detection over all samples is weaker (documented).
    inputs, test_labels, matrices = clustered
    similarity = matrices["oga_sample"]
    top5 = np.argsort(-similarity, axis=1)[:, :5]
    assert (inputs.train_labels[top5] == test_labels[:, None]).mean() > 0.9
    assert 0.8 < class_detection_auc(similarity, inputs.train_labels, test_labels).mean() < 1.0


def test_reference_class_copy_ranks_classes_only(clustered):
    inputs, test_labels, matrices = clustered
    scores = matrices["oga_class"]
    forests = inputs.forests
    for k, label in enumerate(forests.classes_):
        block = scores[:, inputs.train_labels == label]
        # every training sample of a class gets the class forest's score of the test gradient ...
        assert np.all(block == block[:, :1])
        np.testing.assert_allclose(block[:, 0], forests.forests_[k].score_samples(inputs.test_grads))
    # ... which is scikit-learn's score_samples: in [-1, 0), higher = more normal = more influential.
    assert np.all((scores >= -1) & (scores < 0))
    assert np.all(scores[np.arange(len(test_labels)), test_labels * 30] == scores.max(axis=1))


def test_isolation_similarity_of_a_training_sample_with_itself_is_its_path_length():
    train, labels, _, _ = clustered_gradients(n_classes=2, n_train=20)
    forests = ClassForests(n_estimators=20, random_state=3).fit(train, labels)
    similarity = forests.isolation_similarity(train)
    own = similarity[np.arange(len(train)), np.arange(len(train))]
    # score_samples = -2^(-E[h]/c(psi)), so E[h]/c(psi) = -log2(-score): the self-similarity.
    expected = np.concatenate([-np.log2(-forest.score_samples(train[labels == c]))
                               for c, forest in zip(forests.classes_, forests.forests_)])
    np.testing.assert_allclose(own, expected, rtol=1e-6)
    assert np.all(similarity >= 0) and np.all(similarity <= own[None, :] + 1e-9)


def test_lexicographic_oga_puts_the_top_class_first_and_orders_it_by_similarity(clustered):
    inputs, test_labels, matrices = clustered
    class_level, within, combined = matrices["oga_class"], matrices["oga_sample"], matrices["oga"]
    for t in range(len(test_labels)):
        order = rank_training_samples(combined[t], len(inputs.train_labels))
        top_class_rows = np.flatnonzero(class_level[t] == class_level[t].max())
        assert set(order[:len(top_class_rows)]) == set(top_class_rows)
        assert np.all(np.diff(within[t, order[:len(top_class_rows)]]) <= 0)
    np.testing.assert_allclose(class_detection_auc(combined, inputs.train_labels, test_labels),
                               class_detection_auc(class_level, inputs.train_labels, test_labels))


def test_metrics_on_hand_computed_examples():
    train_labels = np.array([0, 0, 1, 1])
    influence = np.array([[3.0, 2.0, 1.0, 0.0],   # class 0 on top: AUC 1, recall 1
                          [0.0, 3.0, 2.0, 1.0],   # pairs (0|2)(0|1) lost, (3|2)(3|1) won: AUC 0.5; top-2 = {1, 2}
                          [1.0, 1.0, 1.0, 1.0]])  # all tied: AUC 0.5; ties go to the earlier sample: top-2 = {0, 1}
    test_labels = np.array([0, 0, 1])
    np.testing.assert_allclose(class_detection_auc(influence, train_labels, test_labels), [1.0, 0.5, 0.5])
    np.testing.assert_allclose(class_detection_recall(influence, train_labels, test_labels), [1.0, 0.5, 0.0])
    # A class without training samples has no ground truth.
    assert np.isnan(class_detection_auc(influence[:1], train_labels, np.array([7]))).all()
    with pytest.raises(DataError, match="n_test, n_train"):
        class_detection_auc(influence, train_labels, np.array([0, 1]))


def test_datainf_matrix_matches_core_influence_per_test_sample():
    rng = np.random.default_rng(1)
    train, test = rng.normal(size=(25, 7)), rng.normal(size=(4, 7))
    blocks = {"a": 3, "b": 4}
    matrix = datainf_matrix(train, test, blocks)
    for t in range(len(test)):
        harm = influence_scores("datainf", train, test[t], block_sizes=blocks)
        np.testing.assert_allclose(matrix[t], -harm, rtol=1e-10, atol=1e-12)
    inputs = AttributionInputs(train, np.zeros(25, int), test, block_sizes=blocks)
    np.testing.assert_allclose(ATTRIBUTION_METHODS.get("datainf")(inputs), np.abs(matrix))
    np.testing.assert_allclose(ATTRIBUTION_METHODS.get("tracing")(inputs), np.abs(test @ train.T))


def test_inputs_are_validated():
    with pytest.raises(DataError, match="same projector"):
        AttributionInputs(np.zeros((3, 4)), np.zeros(3), np.zeros((2, 5)))
    with pytest.raises(DataError, match="labels"):
        AttributionInputs(np.zeros((3, 4)), np.zeros(2), np.zeros((2, 4)))


# --------------------------------------------------------------------------- run directories


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    from core.config import BaselineConfig, TrainConfig
    from core.pipeline.runner import analyze
    from tests.conftest import fast_config

    config = fast_config(
        "digits", train=TrainConfig(epochs=3, patience=2, min_steps=0), baselines=BaselineConfig(enabled=False)
    )
    return analyze(config, tmp_path_factory.mktemp("runs") / "digits-attr", retrain_after=False)


def test_run_gradients_are_the_closed_form_of_the_stored_model(small_run):
    from core.pipeline.artifacts import load_run_dataset
    from core.run import schema

    train, train_labels, test, test_labels, info = run_gradients(small_run.path)
    n_classes = small_run.read_npz(schema.ERM_OUTPUTS)["train_probs"].shape[1]
    feat_dim = small_run.read_npy(schema.FEATURES).shape[1]
    assert train.shape == (len(train_labels), n_classes * (feat_dim + 1)) and test.shape[1] == train.shape[1]
    dataset = load_run_dataset(small_run, small_run.read_manifest(), small_run.config())
    np.testing.assert_array_equal(test_labels, dataset.y_test)
    assert info["projection"] is None
    projected = run_gradients(small_run.path, projection_dim=64)
    assert projected[0].shape[1] <= 64 and projected[4]["projection"] == "KroneckerProjector"


def test_attribute_run_gives_top_k_per_test_sample_and_method(small_run):
    result = attribute_run(small_run.path, test_ids=[0, 5, 9], top_k=4, n_trees=25)
    top = result.top
    assert list(top.columns) == list(ATTRIBUTION_COLUMNS)
    assert len(top) == 3 * 4 * 5 and set(top.method) == {"oga", "oga_class", "oga_sample", "datainf", "tracing"}
    for (_, _), part in top.groupby(["test_id", "method"]):
        assert list(part["rank"]) == [1, 2, 3, 4]
        assert np.all(np.diff(part.influence.to_numpy()) <= 0)
    assert top[top.method.str.startswith("oga")].harm.isna().all()
    assert top[top.method == "datainf"].harm.notna().all()
    assert set(result.metrics.method) == set(top.method)
    assert result.metrics.auc.between(0, 1).all()
    # A trained digits model attributes a test digit mostly to training digits of its class.
    assert result.metrics.set_index("method").loc["oga", "auc"] > 0.6
    again = attribute_run(small_run.path, test_ids=[0, 5, 9], top_k=4, n_trees=25)
    assert again.top.equals(top)
    with pytest.raises(ConfigError, match="test ids"):
        attribute_run(small_run.path, test_ids=[10_000])


def test_run_attributor_fits_the_forests_once_for_every_query(small_run, monkeypatch):
    from core.detect.class_forests import ClassForests
    from core.influence.run_attribution import RunAttributor

    fits = []
    real_fit = ClassForests.fit
    monkeypatch.setattr(ClassForests, "fit", lambda self, X, y: fits.append(len(X)) or real_fit(self, X, y))
    attributor = RunAttributor(small_run.path, n_trees=10)
    first = attributor.attribute([0], top_k=3)
    second = attributor.attribute([7, 8], top_k=3)
    attributor.class_heatmap("oga_class")
    assert len(fits) == 1
    assert set(first.top.test_id) == {0} and set(second.top.test_id) == {7, 8}


def test_streamed_class_heatmap_equals_the_mean_of_the_whole_matrix(small_run):
    from core.influence.run_attribution import RunAttributor

    attributor = RunAttributor(small_run.path, n_trees=10)
    whole = influence_matrices(attributor.inputs(np.arange(len(attributor.test_grads))), ["tracing"])["tracing"]
    expected = np.array([[whole[attributor.test_labels == i][:, attributor.train_labels == j].mean()
                          for j in range(10)] for i in range(10)])
    np.testing.assert_allclose(attributor.class_heatmap("tracing", chunk_rows=7), expected, rtol=1e-10)


def test_test_thumbnails_are_stored_with_the_run(small_run):
    from core.data.load import load_dataset
    from core.run import schema

    dataset = load_dataset(small_run.config().data, small_run.config().seed)
    stored = small_run.read_npy(schema.TEST_THUMBNAILS)
    np.testing.assert_array_equal(stored, np.transpose(dataset.x_test, (0, 2, 3, 1)))
