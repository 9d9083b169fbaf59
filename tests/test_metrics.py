"""deepgrad.metrics: values on small worked examples (Keras' documented numbers or hand
computations), batch-by-batch accumulation equal to one pass, identifiers and resolution."""

import math

import numpy as np
import pytest

from deepgrad import metrics


def batches(*arrays, size):
    """Yield the arrays cut into consecutive batches of ``size`` rows."""
    for start in range(0, len(arrays[0]), size):
        yield tuple(a[start:start + size] for a in arrays)


# --------------------------------------------------------------------------- accuracies

@pytest.mark.parametrize("metric, y_true, y_pred, weights, expected, weighted", [
    (metrics.Accuracy(), [[1], [2], [3], [4]], [[0], [2], [3], [4]], [1, 1, 0, 0], 0.75, 0.5),
    (metrics.BinaryAccuracy(), [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], [1, 0, 0, 1], 0.75, 0.5),
    (metrics.CategoricalAccuracy(), [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
     [0.7, 0.3], 0.5, 0.3),
    (metrics.SparseCategoricalAccuracy(), [[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], [0.7, 0.3], 0.5, 0.3),
    (metrics.TopKCategoricalAccuracy(k=1), [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
     [0.7, 0.3], 0.5, 0.3),
    (metrics.SparseTopKCategoricalAccuracy(k=1), [2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], [0.7, 0.3], 0.5, 0.3),
    (metrics.MeanSquaredError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], [1, 0], 0.25, 0.5),
    (metrics.MeanAbsoluteError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], [1, 0], 0.25, 0.5),
    (metrics.RootMeanSquaredError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], [1, 0], 0.5, math.sqrt(0.5)),
    (metrics.BinaryCrossentropy(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], [1, 0], 0.81492424, 0.9162905),
    (metrics.CategoricalCrossentropy(), [[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
     [0.3, 0.7], 1.1769392, 1.6271976),
    (metrics.SparseCategoricalCrossentropy(), [1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
     [0.3, 0.7], 1.1769392, 1.6271976),
])
def test_keras_documented_values(metric, y_true, y_pred, weights, expected, weighted):
    y_true, y_pred = np.array(y_true), np.array(y_pred, dtype=np.float32)
    metric.update_state(y_true, y_pred)
    assert metric.result() == pytest.approx(expected, rel=1e-5)
    metric.reset_state()
    metric.update_state(y_true, y_pred, sample_weight=np.array(weights))
    assert metric.result() == pytest.approx(weighted, rel=1e-5)


def test_binary_accuracy_aligns_flat_targets_with_column_predictions():
    # (N,) targets against (N, 1) sigmoid outputs must compare row by row, not broadcast to N x N.
    y_true = np.array([1, 0, 1, 1])
    y_pred = np.array([[0.7], [0.6], [0.2], [0.9]])
    assert metrics.BinaryAccuracy()(y_true, y_pred) == 0.5
    assert metrics.binary_accuracy(y_true, y_pred, threshold=0.1).tolist() == [1, 0, 1, 1]


def test_accuracy_accumulates_across_uneven_batches_like_one_pass():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=103)
    scores = rng.random((103, 4))
    expected = np.mean(labels == scores.argmax(axis=1))
    metric = metrics.SparseCategoricalAccuracy()
    for y, p in batches(labels, scores, size=10):
        metric.update_state(y, p)
    assert metric.result() == pytest.approx(expected)
    one_hot = np.eye(4)[labels]
    metric = metrics.CategoricalAccuracy()
    for y, p in batches(one_hot, scores, size=32):
        metric.update_state(y, p)
    assert metric.result() == pytest.approx(expected)
    metric.reset_state()
    assert metric.result() == 0.0


def test_top_k_counts_ties_at_the_boundary_and_k_beyond_classes():
    scores = np.array([[0.5, 0.5, 0.1], [0.2, 0.3, 0.5]])
    assert metrics.sparse_top_k_categorical_accuracy([1, 0], scores, k=1).tolist() == [1.0, 0.0]
    assert metrics.sparse_top_k_categorical_accuracy([2, 0], scores, k=3).tolist() == [1.0, 1.0]


def test_wrong_label_shapes_name_the_fix():
    with pytest.raises(ValueError, match="sparse_categorical_accuracy"):
        metrics.CategoricalAccuracy()(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]))
    with pytest.raises(ValueError, match="categorical_accuracy"):
        metrics.SparseCategoricalAccuracy()(np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match="same shape"):
        metrics.BinaryAccuracy()(np.array([1, 0, 1]), np.array([0.2, 0.9]))
    with pytest.raises(ValueError, match="sample_weight"):
        metrics.MeanSquaredError()(np.ones((4, 1)), np.zeros((4, 1)), sample_weight=np.ones(3))


def test_crossentropy_from_logits_matches_probabilities():
    logits = np.array([[2.0, -1.0, 0.5], [-3.0, 0.0, 4.0]])
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([0, 2])
    expected = -np.log(probabilities[[0, 1], labels])
    assert np.allclose(metrics.sparse_categorical_crossentropy(labels, logits, from_logits=True), expected)
    assert np.allclose(metrics.categorical_crossentropy(np.eye(3)[labels], probabilities), expected)
    z = np.array([[-40.0], [0.0], [3.0]])
    y = np.array([[0.0], [1.0], [1.0]])
    p = 1 / (1 + np.exp(-z))
    direct = -(y * np.log(np.clip(p, 1e-7, 1)) + (1 - y) * np.log(np.clip(1 - p, 1e-7, 1)))[:, 0]
    assert np.allclose(metrics.binary_crossentropy(y, z, from_logits=True), direct, atol=1e-6)


def test_mean_is_weighted_and_counts_samples():
    mean = metrics.Mean()
    mean.update_state(np.array([1.0, 3.0]))
    mean.update_state(5.0)
    assert mean.result() == pytest.approx(3.0)
    mean.reset_state()
    mean.update_state(np.array([1.0, 3.0, 5.0]), sample_weight=np.array([1.0, 0.0, 3.0]))
    assert mean.result() == pytest.approx((1 + 15) / 4)
    assert metrics.Mean().result() == 0.0


# --------------------------------------------------------------------------- precision, recall, F-scores

def test_precision_recall_keras_examples():
    y_true, y_pred = np.array([0, 1, 1, 1]), np.array([1, 0, 1, 1])
    assert metrics.Precision()(y_true, y_pred) == pytest.approx(2 / 3)
    assert metrics.Recall()(y_true, y_pred) == pytest.approx(2 / 3)
    assert metrics.Precision()(y_true, y_pred, sample_weight=np.array([0, 0, 1, 0])) == 1.0
    assert metrics.Precision(top_k=2)(np.array([0, 0, 1, 1]), np.array([1, 1, 1, 1])) == 0.0
    assert metrics.Precision(top_k=4)(np.array([0, 0, 1, 1]), np.array([1, 1, 1, 1])) == 0.5


def test_precision_recall_against_hand_counts_over_batches():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 2, size=(57, 3))
    y_pred = rng.random((57, 3))
    weights = rng.random(57)
    precision = metrics.Precision(thresholds=[0.7, 0.3], class_id=1)
    recall = metrics.Recall(thresholds=[0.7, 0.3], class_id=1)
    for y, p, w in batches(y_true, y_pred, weights, size=16):
        precision.update_state(y, p, sample_weight=w)
        recall.update_state(y, p, sample_weight=w)
    for i, threshold in enumerate([0.7, 0.3]):
        predicted, actual = y_pred[:, 1] > threshold, y_true[:, 1] == 1
        tp = np.sum(weights * (predicted & actual))
        assert precision.result()[i] == pytest.approx(tp / np.sum(weights * predicted))
        assert recall.result()[i] == pytest.approx(tp / np.sum(weights * actual))


def test_precision_with_no_positive_prediction_is_zero():
    assert metrics.Precision()(np.array([1, 1]), np.array([0.1, 0.2])) == 0.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.Precision(thresholds=1.5)


def test_f1_and_fbeta_keras_examples():
    y_true = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
    y_pred = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
    assert np.allclose(metrics.F1Score(threshold=0.5)(y_true, y_pred), [0.5, 0.8, 0.6666667], atol=1e-6)
    assert np.allclose(metrics.FBetaScore(beta=2.0, threshold=0.5)(y_true, y_pred),
                       [0.3846154, 0.90909094, 0.8333334], atol=1e-6)


def test_f1_averages_against_hand_formulas():
    y_true = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]])
    y_pred = np.array([[0.8, 0.1, 0.1], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.3, 0.6, 0.1], [0.1, 0.7, 0.2]])
    predicted = np.eye(3)[y_pred.argmax(axis=1)]  # threshold=None: each row's top score
    tp = (predicted * y_true).sum(0)
    fp = (predicted * (1 - y_true)).sum(0)
    fn = ((1 - predicted) * y_true).sum(0)
    per_class = 2 * tp / (2 * tp + fp + fn)  # [0.5, 0.5, 1.0]
    support = y_true.sum(0)
    assert np.allclose(metrics.F1Score()(y_true, y_pred), per_class, atol=1e-6)
    assert metrics.F1Score(average="macro")(y_true, y_pred) == pytest.approx(per_class.mean(), abs=1e-6)
    assert metrics.F1Score(average="weighted")(y_true, y_pred) == pytest.approx(
        np.sum(per_class * support) / support.sum(), abs=1e-6)
    micro = 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum())
    assert metrics.F1Score(average="micro")(y_true, y_pred) == pytest.approx(micro, abs=1e-6)
    with pytest.raises(ValueError, match="average"):
        metrics.F1Score(average="samples")
    with pytest.raises(ValueError, match=r"\(batch_size, 1\)"):
        metrics.F1Score(threshold=0.5)(np.array([1, 0]), np.array([0.9, 0.1]))


# --------------------------------------------------------------------------- AUC

def test_auc_keras_example_and_hand_pr_interpolation():
    y_true, y_pred = np.array([0, 0, 1, 1]), np.array([0, 0.5, 0.3, 0.9])
    assert metrics.AUC(num_thresholds=3)(y_true, y_pred) == pytest.approx(0.75)
    # thresholds (-eps, 0.5, 1+eps): tp = [2, 1, 0], positives predicted = [4, 1, 0]; Davis-Goadrich
    # slopes [1/3, 1], intercepts [2/3, 0]: area = (1 + 2/3 ln 4) / 6 + 1/2.
    expected_pr = (1 + 2 / 3 * math.log(4)) / 6 + 0.5
    assert metrics.AUC(num_thresholds=3, curve="PR")(y_true, y_pred) == pytest.approx(expected_pr)
    # Riemann sums of precision [0.5, 1, 0] over recall [1, 0.5, 0]: min heights and max heights.
    assert metrics.AUC(num_thresholds=3, curve="PR", summation_method="minoring")(y_true, y_pred) == \
        pytest.approx(0.5 * 0.5 + 0.5 * 0)
    assert metrics.AUC(num_thresholds=3, curve="PR", summation_method="majoring")(y_true, y_pred) == \
        pytest.approx(0.5 * 1 + 0.5 * 1)


def test_roc_auc_equals_exact_trapezoid_when_thresholds_separate_scores():
    rng = np.random.default_rng(2)
    # Scores at bin midpoints of a 1/40 grid: 41 thresholds put every distinct score in its own bin,
    # so the thresholded curve is the exact ROC curve (ties within a score count 1/2 as trapezoids do).
    scores = (rng.integers(0, 40, size=300) + 0.5) / 40
    labels = (rng.random(300) < scores).astype(int)
    positive, negative = scores[labels == 1], scores[labels == 0]
    pairs = positive[:, None] - negative[None, :]
    exact = np.mean((pairs > 0) + 0.5 * (pairs == 0))
    auc = metrics.AUC(num_thresholds=41)
    for y, p in batches(labels, scores, size=64):
        auc.update_state(y, p)
    assert auc.result() == pytest.approx(exact, abs=1e-12)


def test_auc_multi_label_weights_logits_and_range_check():
    y_true = np.array([[0, 1], [0, 0], [1, 1], [1, 0]])
    y_pred = np.array([[0.1, 0.9], [0.4, 0.2], [0.35, 0.7], [0.8, 0.3]])
    per_label = [metrics.AUC()(y_true[:, j], y_pred[:, j]) for j in range(2)]
    assert metrics.AUC(multi_label=True)(y_true, y_pred) == pytest.approx(np.mean(per_label))
    weighted = metrics.AUC(multi_label=True, label_weights=[1.0, 3.0])(y_true, y_pred)
    assert weighted == pytest.approx((per_label[0] + 3 * per_label[1]) / 4)
    logits = np.log(y_pred / (1 - y_pred))
    assert metrics.AUC(from_logits=True)(y_true, logits) == pytest.approx(metrics.AUC()(y_true, y_pred))
    with pytest.raises(ValueError, match="from_logits=True"):
        metrics.AUC()(y_true, logits)
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="DET")


# --------------------------------------------------------------------------- R2

def test_r2_keras_example_and_hand_formula():
    assert metrics.R2Score()(np.array([[1], [4], [3]]), np.array([[2], [4], [4]])) == pytest.approx(0.57142854)
    rng = np.random.default_rng(3)
    y = rng.normal(size=(40, 2))
    p = y + rng.normal(scale=0.5, size=(40, 2))
    per_output = 1 - ((y - p) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)
    r2 = metrics.R2Score(class_aggregation=None)
    for yb, pb in batches(y, p, size=7):
        r2.update_state(yb, pb)
    assert np.allclose(r2.result(), per_output)
    adjusted = metrics.R2Score(num_regressors=3)(y, p)
    assert adjusted == pytest.approx(1 - (1 - per_output.mean()) * 39 / 36)
    assert metrics.R2Score()(np.ones(4), np.array([1.0, 2.0, 1.0, 1.0])) == 0.0  # constant target


# --------------------------------------------------------------------------- identifiers

def test_get_names_aliases_configs_and_errors():
    assert isinstance(metrics.get("mse"), metrics.MeanSquaredError)
    assert isinstance(metrics.get("AUC"), metrics.AUC)
    assert isinstance(metrics.get("f1_score"), metrics.F1Score)
    assert isinstance(metrics.get("accuracy"), metrics.Accuracy)  # exact match, as keras.metrics.get
    with pytest.raises(ValueError, match="Valid names:.*binary_accuracy"):
        metrics.get("accuracyy")
    for metric in (metrics.Precision(thresholds=[0.2, 0.6], class_id=1), metrics.AUC(curve="PR", num_thresholds=50),
                   metrics.TopKCategoricalAccuracy(k=2), metrics.F1Score(average="macro", threshold=0.4),
                   metrics.BinaryAccuracy(threshold=0.2, name="acc_at_02"), metrics.R2Score(num_regressors=2)):
        clone = metrics.deserialize(metrics.serialize(metric))
        assert type(clone) is type(metric) and clone.get_config() == metric.get_config()

    def hits(y_true, y_pred):
        return (np.asarray(y_true) == np.round(y_pred)).astype(float)

    wrapped = metrics.get(hits)
    assert wrapped.name == "hits" and wrapped(np.array([1, 0]), np.array([0.9, 0.9])) == 0.5


@pytest.mark.parametrize("loss, output_shape, target_shape, expected", [
    ("binary_crossentropy", None, None, metrics.BinaryAccuracy),
    ("categorical_crossentropy", None, None, metrics.CategoricalAccuracy),
    ("sparse_categorical_crossentropy", None, None, metrics.SparseCategoricalAccuracy),
    ("mse", (None, 1), None, metrics.BinaryAccuracy),
    ("mse", (None, 10), (None, 10), metrics.CategoricalAccuracy),
    ("mse", (None, 10), (None,), metrics.SparseCategoricalAccuracy),
    ("mse", (None, 10), (None, 1), metrics.SparseCategoricalAccuracy),
])
def test_resolve_accuracy_from_loss_then_shapes(loss, output_shape, target_shape, expected):
    metric = metrics.resolve("accuracy", loss=loss, output_shape=output_shape, target_shape=target_shape)
    assert type(metric) is expected and metric.name == "accuracy"


def test_resolve_keeps_typed_names_and_reads_loss_objects():
    class BinaryCrossentropyLoss:
        name = "binary_crossentropy"
        from_logits = True

    metric = metrics.resolve("acc", loss=BinaryCrossentropyLoss())
    assert isinstance(metric, metrics.BinaryAccuracy) and metric.name == "acc"
    assert metric(np.array([[1], [0]]), np.array([[0.3], [-0.2]])) == 1.0  # logits: threshold 0
    ce = metrics.resolve("crossentropy", loss="sparse_categorical_crossentropy")
    assert isinstance(ce, metrics.SparseCategoricalCrossentropy) and ce.name == "crossentropy"
    assert metrics.resolve("mse").name == "mse"
    assert metrics.resolve("binary_accuracy").name == "binary_accuracy"
    with pytest.raises(ValueError, match="output_shape"):
        metrics.resolve("accuracy", loss="mse")


# --------------------------------------------------------------------------- one formula, shared with the losses

@pytest.mark.parametrize("name, kwargs, make_targets", [
    ("mean_squared_error", {}, lambda rng, p: rng.normal(size=p.shape).astype(np.float32)),
    ("mean_absolute_error", {}, lambda rng, p: rng.normal(size=p.shape).astype(np.float32)),
    ("binary_crossentropy", {"label_smoothing": 0.1}, lambda rng, p: rng.integers(0, 2, p.shape)),
    ("binary_crossentropy", {"from_logits": True}, lambda rng, p: rng.integers(0, 2, p.shape)),
    ("categorical_crossentropy", {}, lambda rng, p: np.eye(p.shape[1])[rng.integers(0, p.shape[1], len(p))]),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.2},
     lambda rng, p: np.eye(p.shape[1])[rng.integers(0, p.shape[1], len(p))]),
    ("sparse_categorical_crossentropy", {"from_logits": True}, lambda rng, p: rng.integers(0, p.shape[1], len(p))),
])
def test_metric_functions_are_the_loss_functions_on_host_arrays(name, kwargs, make_targets):
    from deepgrad import losses

    rng = np.random.default_rng(3)
    y_pred = rng.random((6, 4)).astype(np.float32) + (rng.normal(size=(6, 4)).astype(np.float32)
                                                       if kwargs.get("from_logits") else 0)
    y_true = make_targets(rng, y_pred)
    values = getattr(metrics, name)(y_true, y_pred, **kwargs)
    expected = getattr(losses, name)(y_true, y_pred, **kwargs).numpy()
    assert isinstance(values, np.ndarray) and values.dtype == np.float32
    np.testing.assert_array_equal(values, expected)  # the same computation, bit for bit


def test_metric_functions_read_rank_one_inputs_as_one_value_per_sample():
    y_true, y_pred = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    np.testing.assert_allclose(metrics.mean_squared_error(y_true, y_pred), [1.0, 0.0, 4.0])
    np.testing.assert_allclose(metrics.binary_crossentropy(np.array([1, 0]), np.array([0.5, 0.5])),
                               [np.log(2), np.log(2)], rtol=1e-6)


# --------------------------------------------------------------------------- Keras-behaviour checks

@pytest.mark.parametrize("cls", [metrics.Precision, metrics.Recall])
def test_class_id_needs_a_class_axis(cls):
    # on 1-D input, class_id=2 used to pick sample 2 of the batch
    with pytest.raises(ValueError, match=r"class_id=2 selects a column.*shape \(4,\)"):
        cls(class_id=2)(np.array([0, 1, 1, 0]), np.array([0.2, 0.9, 0.4, 0.8]))
    with pytest.raises(ValueError, match=r"class_id=3 selects a column.*shape \(2, 3\)"):
        cls(class_id=3)(np.eye(3)[:2], np.eye(3)[:2])
    with pytest.raises(ValueError, match="class_id must be an integer >= 0"):
        cls(class_id=-1)
    assert cls(class_id=1)(np.array([[0, 1], [1, 0]]), np.array([[0.2, 0.9], [0.6, 0.7]])) == pytest.approx(
        0.5 if cls is metrics.Precision else 1.0)


def keras_float32_binary_crossentropy(y_true, y_pred):
    """Keras 3's BinaryCrossentropy metric by hand: clip to [1e-7, 1 - 1e-7] and log in float32,
    mean over the last axis, then the mean over samples."""
    y_true, y_pred = np.float32(y_true), np.float32(y_pred)
    p = np.clip(y_pred, np.float32(1e-7), np.float32(1.0) - np.float32(1e-7))
    assert p.dtype == np.float32 and p.max() == np.float32(0.99999988)
    per_sample = -(y_true * np.log(p) + (np.float32(1) - y_true) * np.log(np.float32(1) - p)).mean(axis=-1)
    return float(per_sample.mean(dtype=np.float64))


def test_binary_crossentropy_metric_computes_in_its_float32_dtype_like_keras():
    y_true = np.array([[0], [1], [1], [0], [1]], dtype=np.float32)
    y_pred = np.array([[1], [0], [1], [0], [1]], dtype=np.float32)  # saturated 0/1 probabilities
    expected = keras_float32_binary_crossentropy(y_true, y_pred)
    assert metrics.BinaryCrossentropy()(y_true, y_pred) == pytest.approx(expected, rel=1e-6)
    # float64 predictions (NumPy's default) give the same value: the metric casts to its dtype
    assert metrics.BinaryCrossentropy()(y_true, y_pred.astype(np.float64)) == pytest.approx(expected, rel=1e-6)
    # in float64, 1 - 1e-7 is not rounded and log(1 - p) differs by about 1%
    float64 = metrics.BinaryCrossentropy(dtype="float64")(y_true, y_pred)
    assert abs(float64 / expected - 1) > 5e-3


def test_metrics_honour_their_dtype_and_reject_non_floating_ones():
    y_true, y_pred = np.array([[0.1, 0.2]]), np.array([[0.1 + 1e-9, 0.2]])
    assert metrics.MeanSquaredError(dtype="float64")(y_true, y_pred) == pytest.approx(0.5e-18, rel=1e-6)
    assert metrics.MeanSquaredError()(y_true, y_pred) == 0.0  # equal once rounded to float32
    assert metrics.RootMeanSquaredError(dtype="float16").dtype == "float16"
    for bad in ("int32", "bogus"):
        with pytest.raises(ValueError, match="floating dtype"):
            metrics.Mean(dtype=bad)
    assert metrics.deserialize(metrics.serialize(metrics.AUC(dtype="float64"))).dtype == "float64"


def test_auc_bounds_its_threshold_tables_at_construction():
    # a compile config from a file asked for 10**9 thresholds: 7.45 GiB at the first evaluate
    for bad in (10**9, 1e9, 1, True, "200"):
        with pytest.raises(ValueError, match="num_thresholds"):
            metrics.AUC(num_thresholds=bad)
    with pytest.raises(ValueError, match="num_labels"):
        metrics.AUC(multi_label=True, num_labels=10**8)
    with pytest.raises(ValueError, match="num_labels"):
        metrics.AUC(multi_label=True, num_labels=0)
    with pytest.raises(ValueError, match="num_labels"):  # the label count learned from the first batch
        metrics.AUC(num_thresholds=10**6, multi_label=True)(np.zeros((2, 11)), np.zeros((2, 11)))
    with pytest.raises(ValueError, match="num_thresholds"):
        metrics.deserialize({"class_name": "AUC", "config": {"num_thresholds": 10**9}})
    assert metrics.AUC(num_thresholds=metrics.AUC.MAX_THRESHOLDS).true_positives.shape == (10**6,)
