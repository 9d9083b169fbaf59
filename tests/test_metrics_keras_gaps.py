"""Metrics Keras 3 has and deepgrad lacked: confusion counts, sensitivity/specificity and
precision/recall trade-offs, the metric forms of losses, AUC's PRGAIN curve, Metric.variables,
per-element sample weights, from_sorted_ids and ignore_class. Keras is the reference where installed."""

from __future__ import annotations

import keras_reference
import numpy as np
import pytest

from deepgrad import metrics

keras = keras_reference.keras  # the fixture

RNG = np.random.default_rng(14)
Y_TRUE = RNG.integers(0, 2, size=(64,)).astype(np.float32)
Y_PRED = np.clip(0.35 * Y_TRUE + 0.65 * RNG.random(64), 0, 1).astype(np.float32)
WEIGHTS = RNG.random(64).astype(np.float32)


def _run(metric, *batches):
    for batch in batches:
        metric.update_state(*batch)
    return metric.result()


@pytest.mark.parametrize("name, expected", [("TruePositives", 2.0), ("FalsePositives", 1.0),
                                            ("TrueNegatives", 1.0), ("FalseNegatives", 1.0)])
def test_confusion_counts_by_hand(name, expected):
    y_true, y_pred = np.array([1, 1, 1, 0, 0]), np.array([0.9, 0.6, 0.2, 0.7, 0.1])
    assert getattr(metrics, name)()(y_true, y_pred) == expected
    per_threshold = getattr(metrics, name)(thresholds=[0.05, 0.5, 0.95])(y_true, y_pred)
    assert per_threshold.shape == (3,)


@pytest.mark.parametrize("name", ["TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives"])
def test_confusion_counts_match_keras(keras, name):
    thresholds = [0.8, 0.15, 0.5]
    mine = _run(getattr(metrics, name)(thresholds=thresholds), (Y_TRUE, Y_PRED, WEIGHTS))
    theirs = getattr(keras.metrics, name)(thresholds=thresholds)
    theirs.update_state(Y_TRUE, Y_PRED, sample_weight=WEIGHTS)
    np.testing.assert_allclose(mine, np.asarray(theirs.result()), rtol=1e-5)


TRADE_OFFS = [("SensitivityAtSpecificity", 0.7), ("SpecificityAtSensitivity", 0.6),
              ("PrecisionAtRecall", 0.5), ("RecallAtPrecision", 0.8), ("RecallAtPrecision", 1.0)]


@pytest.mark.parametrize("name, value", TRADE_OFFS)
def test_rate_trade_offs_match_keras(keras, name, value):
    for weights in (None, WEIGHTS):
        mine = getattr(metrics, name)(value)
        theirs = getattr(keras.metrics, name)(value)
        for part in (slice(0, 30), slice(30, 64)):
            w = None if weights is None else weights[part]
            mine.update_state(Y_TRUE[part], Y_PRED[part], sample_weight=w)
            theirs.update_state(Y_TRUE[part], Y_PRED[part], sample_weight=w)
        assert mine.result() == pytest.approx(float(theirs.result()), abs=1e-6)


def test_rate_trade_offs_by_hand_and_class_id():
    y_true, y_pred = np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])
    # thresholds below 0.4: recall 1, precision 2/3; between 0.4 and 0.6: recall 1/2, precision 1/2;
    # between 0.6 and 0.9: recall 1/2, precision 1
    assert metrics.PrecisionAtRecall(0.9)(y_true, y_pred) == pytest.approx(2 / 3)
    assert metrics.RecallAtPrecision(0.9)(y_true, y_pred) == pytest.approx(0.5)
    assert metrics.SensitivityAtSpecificity(1.0)(y_true, y_pred) == pytest.approx(0.5)
    assert metrics.SpecificityAtSensitivity(1.0)(y_true, y_pred) == pytest.approx(0.5)
    two_columns = metrics.PrecisionAtRecall(0.9, class_id=1)
    assert two_columns(np.stack([1 - y_true, y_true], 1), np.stack([1 - y_pred, y_pred], 1)) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="recall"):
        metrics.PrecisionAtRecall(1.5)
    with pytest.raises(ValueError, match="num_thresholds"):
        metrics.SensitivityAtSpecificity(0.5, num_thresholds=0)
    config = metrics.RecallAtPrecision(0.8, num_thresholds=50).get_config()
    assert config["precision"] == 0.8 and metrics.RecallAtPrecision.from_config(config).num_thresholds == 50


LOSS_METRICS = ["MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "LogCoshError", "KLDivergence",
                "Poisson", "CosineSimilarity", "Hinge", "SquaredHinge", "CategoricalHinge"]


@pytest.mark.parametrize("name", LOSS_METRICS)
def test_metric_forms_of_losses_match_keras(keras, name):
    y_true = RNG.random((8, 3)).astype(np.float32)
    if name == "CategoricalHinge":
        y_true = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 8)]
    y_pred = RNG.random((8, 3)).astype(np.float32) + 0.05
    weights = RNG.random(8).astype(np.float32)
    mine, theirs = getattr(metrics, name)(), getattr(keras.metrics, name)()
    assert mine.name == theirs.name
    mine.update_state(y_true, y_pred, sample_weight=weights)
    theirs.update_state(y_true, y_pred, sample_weight=weights)
    assert mine.result() == pytest.approx(float(theirs.result()), rel=1e-5)


def test_metric_forms_of_losses_by_hand_and_by_name():
    y_true, y_pred = np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[1.0, 0.0], [0.0, -2.0]])
    assert metrics.CosineSimilarity()(y_true, y_pred) == pytest.approx(0.0)
    assert metrics.Hinge()(np.array([[1.0, -1.0]]), np.array([[0.5, 0.5]])) == pytest.approx((0.5 + 1.5) / 2)
    assert isinstance(metrics.get("hinge"), metrics.Hinge)
    for name in ("squared_hinge", "categorical_hinge", "logcosh", "kl_divergence", "poisson", "cosine_similarity",
                 "mean_absolute_percentage_error", "TruePositives", "SensitivityAtSpecificity"):
        assert name in metrics.names()
    restored = metrics.deserialize(metrics.serialize(metrics.CosineSimilarity(axis=0)))
    assert isinstance(restored, metrics.CosineSimilarity) and restored.get_config()["axis"] == 0


def test_metric_variables_are_the_state_arrays():
    mean = metrics.Mean()
    assert [float(v) for v in mean.variables] == [0.0, 0.0]
    mean.update_state([1.0, 3.0])
    assert [float(v) for v in mean.variables] == [4.0, 2.0]
    auc = metrics.AUC(num_thresholds=10)
    assert len(auc.variables) == 4 and all(v.shape == (10,) for v in auc.variables)
    assert len(metrics.TruePositives(thresholds=[0.2, 0.4]).variables) == 1
    assert len(metrics.SensitivityAtSpecificity(0.5).variables) == 4


def test_auc_prgain_matches_keras_and_is_validated(keras):
    for summation in ("interpolation", "minoring", "majoring"):
        mine = metrics.AUC(curve="PRGAIN", summation_method=summation, num_thresholds=50)
        theirs = keras.metrics.AUC(curve="PRGAIN", summation_method=summation, num_thresholds=50)
        mine.update_state(Y_TRUE, Y_PRED, sample_weight=WEIGHTS)
        theirs.update_state(Y_TRUE, Y_PRED, sample_weight=WEIGHTS)
        assert mine.result() == pytest.approx(float(theirs.result()), abs=1e-5)


def test_auc_prgain_perfect_ranking_is_one():
    y_true, y_pred = np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])
    assert metrics.AUC(curve="PRGAIN")(y_true, y_pred) == pytest.approx(1.0)
    assert metrics.AUC(curve="prgain").curve == "PRGAIN"


def test_per_element_sample_weights_weigh_each_element():
    y_true, y_pred = np.array([[1, 2], [3, 4]]), np.array([[0, 2], [3, 4]])
    assert metrics.Accuracy()(y_true, y_pred, sample_weight=np.array([[1, 0], [0, 1]])) == pytest.approx(0.5)
    assert metrics.Accuracy()(y_true, y_pred, sample_weight=np.array([[1, 0]])) == pytest.approx(0.5)
    binary = metrics.BinaryAccuracy()(np.array([[1, 0], [1, 1]]), np.array([[0.9, 0.8], [0.2, 0.7]]),
                                      sample_weight=np.array([[1, 0], [3, 0]]))
    assert binary == pytest.approx(0.25)
    with pytest.raises(ValueError, match="one weight per sample"):
        metrics.MeanSquaredError()(np.ones((3, 4)), np.zeros((3, 4)), sample_weight=np.ones((3, 4)))


def test_sparse_top_k_from_sorted_ids_matches_keras(keras):
    sorted_ids = np.array([[2, 0, 4], [1, 3, 0], [4, 2, 1]])
    y_true = np.array([0, 0, 1])
    for k in (1, 2, 3):
        mine = metrics.SparseTopKCategoricalAccuracy(k=k, from_sorted_ids=True)(y_true, sorted_ids)
        theirs = keras.metrics.SparseTopKCategoricalAccuracy(k=k, from_sorted_ids=True)
        theirs.update_state(y_true, sorted_ids)
        assert mine == pytest.approx(float(theirs.result()))


def test_sparse_top_k_from_sorted_ids_by_hand():
    sorted_ids = np.array([[2, 0, 4], [1, 3, 0], [4, 2, 1]])
    metric = metrics.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True)
    assert metric(np.array([[0], [0], [1]]), sorted_ids) == pytest.approx(1 / 3)
    assert metrics.SparseTopKCategoricalAccuracy.from_config(metric.get_config()).get_config()["from_sorted_ids"]


def test_sparse_categorical_crossentropy_metric_ignores_a_class(keras):
    y_true = np.array([0, 2, 1, 2])
    y_pred = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3], [0.5, 0.3, 0.2]], dtype=np.float32)
    mine = metrics.SparseCategoricalCrossentropy(ignore_class=2)(y_true, y_pred)
    assert mine == pytest.approx(-(np.log(0.7) + np.log(0.4)) / 4, rel=1e-5)
    theirs = keras.metrics.SparseCategoricalCrossentropy(ignore_class=2)
    theirs.update_state(y_true, y_pred)
    assert mine == pytest.approx(float(theirs.result()), rel=1e-5)


def test_sparse_categorical_crossentropy_ignore_class_with_weights():
    y_true = np.array([0, 2, 1])
    y_pred = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]], dtype=np.float32)
    value = metrics.SparseCategoricalCrossentropy(ignore_class=2)(y_true, y_pred, sample_weight=[1.0, 5.0, 3.0])
    assert value == pytest.approx(-(np.log(0.7) + 3 * np.log(0.4)) / 9, rel=1e-5)


def test_sparse_categorical_crossentropy_loss_ignore_class_matches_keras(keras):
    from deepgrad import losses  # noqa: PLC0415

    y_true = np.array([[0, 2], [1, 2]])
    y_pred = RNG.random((2, 2, 3)).astype(np.float32)
    y_pred /= y_pred.sum(axis=-1, keepdims=True)
    mine = float(losses.SparseCategoricalCrossentropy(ignore_class=2)(y_true, y_pred).data)
    theirs = float(keras.losses.SparseCategoricalCrossentropy(ignore_class=2)(y_true, y_pred))
    assert mine == pytest.approx(theirs, rel=1e-5)
