"""One registry for every string identifier: losses, metrics, activations, initializers,
regularizers, optimizers and schedules resolve names alike, suggest the closest valid name,
and model.compile() rejects unknown names at once."""

import json
import zipfile

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import activations, initializers, losses, metrics, optimizers, regularizers
from deepgrad.configurable import IdentifierError
from deepgrad.layers import Dense
from deepgrad.models import Sequential, load_model
from deepgrad.optimizers import schedules

GETTERS = {"loss": losses.get, "metric": metrics.get, "activation": activations.get,
           "initializer": initializers.get, "regularizer": regularizers.get, "optimizer": optimizers.get}


def small_model():
    dg.manual_seed(0)
    return Sequential([Dense(3, activation="softmax", input_dim=4)])


@pytest.mark.parametrize("kind, typo, meant", [
    ("loss", "mean_sqared_error", "mean_squared_error"),
    ("metric", "acuracy", "accuracy"),
    ("activation", "sigmiod", "sigmoid"),
    ("initializer", "glorot_unifrom", "glorot_uniform"),
    ("regularizer", "l1_l3", "l1_l2"),  # "l1l2" is Keras's own name of L1L2
    ("optimizer", "rmsporp", "rmsprop"),
])
def test_unknown_names_raise_value_error_with_the_closest_valid_name(kind, typo, meant):
    with pytest.raises(ValueError, match=f"unknown {kind} '{typo}'; did you mean '{meant}'\\? Valid names: "):
        GETTERS[kind](typo)


@pytest.mark.parametrize("kind", sorted(GETTERS))
def test_identifiers_of_the_wrong_type_raise_one_error_everywhere(kind):
    # a number is never an identifier: Keras raises ValueError, deepgrad's getters raised TypeError
    with pytest.raises(IdentifierError, match=f"could not interpret {kind} identifier 3.5") as caught:
        GETTERS[kind](3.5)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, TypeError)


def test_a_name_far_from_every_valid_one_gets_no_suggestion():
    with pytest.raises(ValueError, match=r"unknown loss 'zzzz'\. Valid names: 'mean_squared_error'"):
        losses.get("zzzz")


def test_schedules_have_no_string_names_and_suggest_class_names_in_configs():
    with pytest.raises(IdentifierError, match="could not interpret learning rate schedule identifier"):
        schedules.get("CosineDecay")
    with pytest.raises(ValueError, match="did you mean 'CosineDecay'"):
        schedules.deserialize({"class_name": "CosineDecy", "config": {}})
    with pytest.raises(ValueError, match="did you mean 'Adam'"):
        optimizers.deserialize({"class_name": "Adamm", "config": {}})


def test_every_existing_alias_still_resolves():
    assert losses.get("mse") is losses.mean_squared_error and losses.get("MSE") is losses.mean_squared_error
    assert losses.get("kullback_leibler_divergence") is losses.kl_divergence
    assert isinstance(losses.get("Pinball"), losses.Quantile)
    assert isinstance(metrics.get("acc"), metrics.Accuracy) and isinstance(metrics.get("RMSE"),
                                                                           metrics.RootMeanSquaredError)
    assert isinstance(metrics.get("f1"), metrics.F1Score) and isinstance(metrics.get("auc"), metrics.AUC)
    assert activations.get("swish") is activations.silu and activations.get("identity") is activations.linear
    assert isinstance(initializers.get("xavier_uniform"), initializers.GlorotUniform)
    assert isinstance(regularizers.get("elastic_net"), regularizers.L1L2)
    assert isinstance(optimizers.get("Adam"), optimizers.Adam) and isinstance(optimizers.get("SGD"), optimizers.SGD)
    assert isinstance(optimizers.deserialize({"class_name": "rmsprop", "config": {}}), optimizers.RMSprop)
    assert "LossFunctionWrapper" not in losses.names()


def test_compile_rejects_an_unknown_loss_before_any_batch():
    model = small_model()
    with pytest.raises(ValueError, match="did you mean 'mean_squared_error'"):
        model.compile(optimizer="sgd", loss="mean_sqared_error")
    with pytest.raises(ValueError, match="unknown loss 'categorical_crossentropyy'"):
        model.compile(optimizer="sgd", loss={"dense": "categorical_crossentropyy"})


def test_compile_rejects_unknown_metrics_and_bad_metric_configs_before_any_batch():
    model = small_model()
    with pytest.raises(ValueError, match="unknown metric 'acuracy'; did you mean 'accuracy'"):
        model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["acuracy"])
    with pytest.raises(ValueError, match="did you mean 'precision'"):
        model.compile(optimizer="sgd", loss="categorical_crossentropy", weighted_metrics=[["precison"]])
    with pytest.raises(ValueError, match="num_thresholds"):
        model.compile(optimizer="sgd", loss="categorical_crossentropy",
                      metrics=[{"class_name": "AUC", "config": {"num_thresholds": 10**9}}])


def test_compile_still_accepts_the_task_dependent_names():
    model = small_model()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["acc", "ce", "mae", metrics.AUC()])
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[np.arange(8) % 3]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "acc", "ce", "mae", "auc"}


def test_a_model_file_asking_for_a_huge_auc_is_rejected_when_loaded(tmp_path):
    model = small_model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=[metrics.AUC(num_thresholds=50)])
    model.save(tmp_path / "m.deepgrad")
    with zipfile.ZipFile(tmp_path / "m.deepgrad") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    auc = config["compile_config"]["metrics"][0]
    assert auc["class_name"] == "AUC"
    auc["config"]["num_thresholds"] = 10**9
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "hostile.deepgrad", "w") as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)
    with pytest.raises(ValueError, match="num_thresholds"):
        load_model(tmp_path / "hostile.deepgrad")
