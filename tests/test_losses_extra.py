"""Keras 3's categorical_focal_crossentropy, dice, tversky and ctc losses: formulas, Keras' documented values,
PyTorch's CTC, and finite-difference gradients."""

import numpy as np
import pytest
from torch_reference import F, reference, torch

import deepgrad as dg
from deepgrad import losses

MASK_TRUE = np.array([[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]])
MASK_PRED = np.array([[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]])


def test_dice_and_tversky_give_the_values_of_keras_documentation():
    np.testing.assert_allclose(losses.dice(MASK_TRUE, MASK_PRED, axis=(1, 2, 3)).numpy(), [0.5, 0.75757575],
                               rtol=1e-6)
    np.testing.assert_allclose(losses.dice(MASK_TRUE, MASK_PRED).item(), 0.6164384, rtol=1e-6)
    np.testing.assert_allclose(losses.tversky(MASK_TRUE, MASK_PRED, axis=[1, 2, 3]).numpy(),
                               losses.dice(MASK_TRUE, MASK_PRED, axis=(1, 2, 3)).numpy(), rtol=1e-6)
    # Keras 3.15 (torch backend): Tversky(alpha=0.3, beta=0.7) on these masks is 0.6011
    y, p = MASK_TRUE, MASK_PRED
    tp, fn, fp = (y * p).sum(), (y * (1 - p)).sum(), ((1 - y) * p).sum()
    expected = 1 - tp / (tp + 0.3 * fn + 0.7 * fp + 1e-7)
    assert round(expected, 4) == 0.6011
    np.testing.assert_allclose(losses.Tversky(alpha=0.3, beta=0.7)(MASK_TRUE, MASK_PRED).item(), expected)
    np.testing.assert_allclose(losses.Dice(axis=(1, 2, 3))(MASK_TRUE, MASK_PRED).item(), (0.5 + 0.75757575) / 2,
                               rtol=1e-6)


def test_categorical_focal_crossentropy_follows_its_formula():
    y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    # values of Keras 3.15 for these arrays
    np.testing.assert_allclose(losses.categorical_focal_crossentropy(y_true, y_pred).numpy(), [3.2058e-05, 0.46627],
                               rtol=1e-4)
    p = np.clip(y_pred, 1e-7, 1 - 1e-7)
    expected = -(0.3 * (1 - p) ** 1.5 * y_true * np.log(p)).sum(axis=-1)
    np.testing.assert_allclose(losses.categorical_focal_crossentropy(y_true, y_pred, alpha=0.3, gamma=1.5).numpy(),
                               expected, rtol=1e-12)
    logits = np.random.default_rng(0).normal(size=(4, 3))
    labels = np.eye(3)[[0, 2, 1, 1]]
    probs = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(losses.CategoricalFocalCrossentropy(from_logits=True)(labels, logits).item(),
                               losses.CategoricalFocalCrossentropy()(labels, probs).item(), rtol=1e-10)
    np.testing.assert_allclose(losses.categorical_focal_crossentropy(labels, probs, alpha=1.0, gamma=0.0).numpy(),
                               losses.categorical_crossentropy(labels, probs).numpy(), rtol=1e-10)


def test_the_new_losses_have_finite_difference_gradients():
    rng = np.random.default_rng(1)
    labels = np.eye(4)[rng.integers(0, 4, size=5)]
    masks = (rng.random((3, 4, 4, 1)) > 0.5).astype(float)
    dg.gradcheck(lambda z: losses.categorical_focal_crossentropy(labels, z, from_logits=True),
                 dg.tensor(rng.normal(size=(5, 4)), requires_grad=True))
    dg.gradcheck(lambda p: losses.dice(masks, p, axis=(1, 2, 3)), dg.tensor(rng.random((3, 4, 4, 1)),
                                                                             requires_grad=True))
    dg.gradcheck(lambda p: losses.tversky(masks, p, alpha=0.2, beta=0.8), dg.tensor(rng.random((3, 4, 4, 1)),
                                                                                     requires_grad=True))
    ctc_labels = np.array([[1, 2, 2], [3, 0, 0]])
    dg.gradcheck(lambda z: losses.ctc(ctc_labels, z), dg.tensor(rng.normal(size=(2, 7, 4)), requires_grad=True))


def test_ctc_matches_torch_values_and_gradients_with_uneven_lengths():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(4, 9, 6))
    labels = np.array([[1, 2, 2, 5], [3, 1, 0, 0], [4, 0, 0, 0], [5, 5, 5, 1]])
    label_length, steps = (labels != 0).sum(axis=1), np.array([9, 6, 7, 9])
    direction = rng.normal(size=4)
    x = dg.tensor(logits, requires_grad=True)
    out = dg.ops.ctc_loss(labels, x, label_length, steps)
    out.backward(direction)

    def compute():
        t = torch.tensor(logits, requires_grad=True)
        values = F.ctc_loss(torch.log_softmax(t, -1).transpose(0, 1), torch.tensor(labels), torch.tensor(steps),
                            torch.tensor(label_length), blank=0, reduction="none")
        values.backward(torch.tensor(direction))
        return values.detach().numpy(), t.grad.numpy()

    expected, expected_grad = reference(compute)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(x.grad, expected_grad, atol=1e-10)
    full = losses.ctc(labels[:1], logits[:1]).numpy()
    np.testing.assert_allclose(full, expected[:1], rtol=1e-10)


def test_ctc_hand_computed_case_and_impossible_alignments():
    # two steps, one label 1, uniform over {blank, 1}: paths (1,1), (b,1), (1,b) collapse to "1": p = 3/4
    logits = dg.tensor(np.zeros((1, 2, 2)), requires_grad=True)
    loss = losses.ctc(np.array([[1]]), logits)
    np.testing.assert_allclose(loss.numpy(), [-np.log(0.75)])
    # "1 1" needs a blank between the repeats: three steps at least; two cannot hold it
    impossible = dg.tensor(np.zeros((1, 2, 2)), requires_grad=True)
    value = losses.ctc(np.array([[1, 1]]), impossible)
    assert np.isinf(value.numpy()).all()
    value.sum().backward()
    np.testing.assert_array_equal(impossible.grad, 0.0)
    with pytest.raises(ValueError, match="labels must lie in"):
        losses.ctc(np.array([[7]]), np.zeros((1, 3, 2)))
    with pytest.raises(ValueError, match=r"\(batch, max_length\)"):
        losses.ctc(np.array([1]), np.zeros((1, 3, 2)))


def test_names_configs_and_training_with_the_new_losses():
    for name, cls in [("categorical_focal_crossentropy", losses.CategoricalFocalCrossentropy),
                      ("dice", losses.Dice), ("tversky", losses.Tversky), ("ctc", losses.CTC)]:
        assert callable(losses.get(name)) and isinstance(losses.get(cls.__name__), cls)
        instance = cls()
        assert losses.deserialize(losses.serialize(instance)).get_config() == instance.get_config()
    assert losses.Tversky(alpha=0.1).get_config()["alpha"] == 0.1
    dg.manual_seed(0)
    x = np.random.default_rng(3).normal(size=(32, 5)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    model = dg.Sequential([dg.Input((5,)), dg.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=dg.optimizers.Adam(0.05), loss="dice")
    history = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
