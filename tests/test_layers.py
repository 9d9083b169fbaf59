import numpy as np
import pytest

import deepgrad as dg
from deepgrad.layers import (
    APL,
    ELU,
    Activation,
    Add,
    AlphaDropout,
    Average,
    BatchNormalization,
    Concatenate,
    Dense,
    Dropout,
    Flatten,
    GaussianNoise,
    LayerNormalization,
    LeakyReLU,
    Multiply,
    PReLU,
    ReLU,
    Reshape,
    SoftExponential,
    Softmax,
    Subtract,
)


def test_dense_neuron_of_the_course_outputs_2_2():
    # inputs (0.8, 1.2), weights (1.0, 0.75), bias 0.5, ReLU: 0.8 + 0.9 + 0.5 = 2.2
    layer = Dense(1, activation="relu", input_dim=2)
    layer.set_weights([np.array([[1.0], [0.75]]), np.array([0.5])])
    out = layer(np.array([[0.8, 1.2]], dtype=np.float32))
    assert out.shape == (1, 1)
    assert out.item() == pytest.approx(2.2, rel=1e-6)


def test_dense_builds_from_first_input_and_orders_weights_like_keras():
    layer = Dense(4)
    assert not layer.built
    layer(np.zeros((2, 3), dtype=np.float32))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 4) and bias.shape == (4,)
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    assert layer.count_params() == 16


def test_dense_rejects_wrong_feature_count_and_bad_units():
    layer = Dense(2, input_dim=3)
    with pytest.raises(ValueError, match="expects inputs whose last axis has 3"):
        layer(np.zeros((1, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="positive integer"):
        Dense(0)


def test_dense_accepts_keras1_output_dim():
    assert Dense(output_dim=5, input_dim=2).units == 5


def test_dense_gradients_match_finite_differences():
    layer = Dense(3, activation="tanh", input_dim=4, dtype="float64")
    x = np.random.default_rng(0).normal(size=(5, 4))
    kernel, bias = layer.kernel, layer.bias
    assert dg.gradcheck(lambda k, b: (dg.Tensor(x) @ k + b).tanh(), kernel, bias)
    out = layer(dg.Tensor(x))
    (out * out).sum().backward()
    assert kernel.grad.shape == (4, 3) and np.abs(kernel.grad).sum() > 0


def test_dropout_is_inverted_and_off_at_inference():
    dg.manual_seed(0)
    layer = Dropout(0.25)
    x = np.ones((2000, 50), dtype=np.float32)
    assert np.array_equal(layer(x, training=False).numpy(), x)
    out = layer(x, training=True).numpy()
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.01
    assert np.allclose(out[kept], 1 / 0.75)
    assert abs(out.mean() - 1.0) < 0.02


def test_dropout_rate_validation():
    with pytest.raises(ValueError, match="rate"):
        Dropout(1.0)


def test_alpha_dropout_keeps_mean_and_variance_of_standard_normal():
    dg.manual_seed(1)
    x = np.random.default_rng(1).standard_normal((20000, 20)).astype(np.float32)
    out = AlphaDropout(0.2)(x, training=True).numpy()
    assert abs(out.mean()) < 0.03 and abs(out.std() - 1) < 0.03
    assert np.array_equal(AlphaDropout(0.2)(x, training=False).numpy(), x)


def test_gaussian_noise_only_while_training():
    x = np.zeros((1000, 10), dtype=np.float32)
    layer = GaussianNoise(0.5, seed=3)
    assert np.array_equal(layer(x).numpy(), x)
    assert abs(layer(x, training=True).numpy().std() - 0.5) < 0.02


def test_batch_normalization_training_and_inference():
    layer = BatchNormalization(momentum=0.9)
    x = np.random.default_rng(2).normal(3.0, 2.0, size=(256, 4)).astype(np.float32)
    out = layer(x, training=True).numpy()
    assert np.allclose(out.mean(axis=0), 0, atol=1e-5)
    assert np.allclose(out.std(axis=0), 1, atol=1e-3)
    # moving statistics moved 10% of the way from (0, 1) toward the batch statistics
    assert np.allclose(layer.moving_mean.numpy(), 0.1 * x.mean(axis=0), rtol=1e-5)
    assert np.allclose(layer.moving_variance.numpy(), 0.9 + 0.1 * x.var(axis=0), rtol=1e-5)
    inference = layer(x, training=False).numpy()
    expected = (x - layer.moving_mean.numpy()) / np.sqrt(layer.moving_variance.numpy() + 1e-3)
    assert np.allclose(inference, expected, rtol=1e-5, atol=1e-5)
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 2


def test_batch_normalization_gradient_matches_finite_differences():
    layer = BatchNormalization(dtype="float64")
    x = np.random.default_rng(3).normal(size=(6, 3))
    layer.build((None, 3))
    layer.built = True

    def f(inputs):
        return layer(inputs, training=True) * dg.Tensor(np.arange(18.0).reshape(6, 3))

    assert dg.gradcheck(f, dg.Tensor(x, requires_grad=True))


def test_layer_normalization_normalizes_each_sample():
    x = np.random.default_rng(4).normal(5, 3, size=(8, 16)).astype(np.float32)
    out = LayerNormalization()(x).numpy()
    assert np.allclose(out.mean(axis=1), 0, atol=1e-5)
    assert np.allclose(out.var(axis=1), 1, atol=1e-2)


def test_flatten_and_reshape():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert Flatten()(x).shape == (2, 12)
    assert Reshape((4, 3))(x).shape == (2, 4, 3)
    assert Reshape((-1,))(x).shape == (2, 12)


def test_activation_layers_apply_their_functions():
    x = np.array([[-2.0, -0.5, 0.0, 1.5, 7.0]], dtype=np.float32)
    assert np.allclose(ReLU(max_value=6.0)(x).numpy(), [[0, 0, 0, 1.5, 6.0]])
    assert np.allclose(LeakyReLU()(x).numpy(), [[-0.6, -0.15, 0, 1.5, 7.0]])
    assert np.allclose(ELU()(x).numpy(), np.where(x > 0, x, np.exp(x) - 1), rtol=1e-6)
    assert np.allclose(Softmax()(x).numpy().sum(), 1.0)
    assert np.allclose(Activation("relu")(x).numpy(), np.maximum(x, 0))


def test_prelu_learns_its_slope():
    layer = PReLU(alpha_initializer="constant")
    x = dg.tensor([[-2.0, 3.0]])
    out = layer(x)
    assert layer.alpha.shape == (2,)
    out.sum().backward()
    assert np.allclose(layer.alpha.grad, [-2.0, 0.0])


def test_apl_and_soft_exponential_layers_have_trainable_parameters():
    x = np.random.default_rng(5).normal(size=(4, 3)).astype(np.float32)
    apl = APL(hinges=2)
    assert apl(x).shape == (4, 3) and len(apl.trainable_weights) == 2
    soft = SoftExponential()
    assert np.allclose(soft(x).numpy(), x)  # alpha = 0 is the identity
    assert soft.alpha.shape == (3,)


def test_merge_layers():
    a = np.ones((2, 3), dtype=np.float32)
    b = 2 * np.ones((2, 3), dtype=np.float32)
    assert np.allclose(Add()([a, b]).numpy(), 3)
    assert np.allclose(Subtract()([a, b]).numpy(), -1)
    assert np.allclose(Multiply()([a, b]).numpy(), 2)
    assert np.allclose(Average()([a, b]).numpy(), 1.5)
    assert Concatenate()([a, b]).shape == (2, 6)
    with pytest.raises(ValueError, match="at least 2"):
        Add()([a])


def test_freezing_a_layer_moves_weights_to_non_trainable():
    layer = Dense(2, input_dim=3)
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    assert not layer.kernel.requires_grad
    layer.trainable = True
    assert len(layer.trainable_weights) == 2 and layer.kernel.requires_grad


def test_set_weights_checks_count_and_shapes():
    layer = Dense(2, input_dim=3)
    with pytest.raises(ValueError, match="expects 2 weight arrays"):
        layer.set_weights([np.zeros((3, 2))])
    with pytest.raises(ValueError, match="has shape"):
        layer.set_weights([np.zeros((2, 2)), np.zeros(2)])


def test_unexpected_keyword_argument_is_reported():
    with pytest.raises(TypeError, match="unexpected keyword"):
        Dense(3, activaton="relu")


def test_automatic_names_follow_keras():
    dg.backend.clear_session()
    assert [Dense(1).name, Dense(1).name, BatchNormalization().name] == ["dense", "dense_1", "batch_normalization"]


@pytest.mark.parametrize("make", [
    lambda: Dense(3, activation="relu", kernel_initializer="he_normal", kernel_regularizer="l2", input_dim=2),
    lambda: Activation("tanh"), lambda: Dropout(0.3, seed=1), lambda: AlphaDropout(0.1),
    lambda: GaussianNoise(0.2), lambda: BatchNormalization(momentum=0.9), lambda: LayerNormalization(),
    lambda: Flatten(), lambda: Reshape((2, 2)), lambda: ReLU(max_value=6.0), lambda: LeakyReLU(0.1),
    lambda: ELU(0.5), lambda: Softmax(axis=-1), lambda: PReLU(), lambda: APL(hinges=3),
    lambda: SoftExponential(), lambda: Add(), lambda: Concatenate(axis=1),
])
def test_every_layer_round_trips_through_json_config(make):
    import json

    layer = make()
    config = json.loads(json.dumps(layer.get_config()))
    clone = type(layer).from_config(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()


def test_sequential_config_round_trip_rebuilds_the_same_architecture():
    import json

    from deepgrad.models import Sequential

    model = Sequential([Dense(4, activation="relu", input_dim=3), Dropout(0.2), Dense(2, activation="softmax")])
    config = json.loads(json.dumps(model.get_config()))
    clone = Sequential.from_config(config)
    assert [type(layer).__name__ for layer in clone.layers] == ["Dense", "Dropout", "Dense"]
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
