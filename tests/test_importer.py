"""netspec import: Keras 3 models, read as data, become specs that build the same models.

What "the same" means here: `model.get_config()` of the model the imported spec builds equals the original's,
after normalizing only what must differ (see `comparable`):

* `shared_object_id` inside dtype policies: Keras's id() of a policy object shared by several layers, which
  differs between two models in one process however they are made;
* the top-level class of a Sequential model: a spec builds a functional model, so a Sequential's layers are
  compared one by one (class and config);
* a model name that is not an identifier (`mobilenetv2_0.35_96`): a spec's name is one (`mobilenetv2_0_35_96`).

Nested models are flattened into the spec, so their configs cannot be equal: there, leaf layers' classes,
configs and parameter counts are compared, and the connections by the predictions of both models on the same
weights (netspec import --weights), which are equal.
"""

from __future__ import annotations

import json
import warnings
import zipfile

import keras
import numpy as np
import pytest
from conftest import SPECS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import mixed_specs, specs_led_by

import netspec
from netspec.build import save_model
from netspec.cli import main
from netspec.errors import ModelImportError, UsageError
from netspec.importer import OBJECT_DEFAULTS, dump_spec, import_weights, read_model
from netspec.layers import LAYER_TYPES
from netspec.layers.base import CONSTRAINTS, INITIALIZERS, REGULARIZERS
from netspec.load import load_spec
from netspec.summary import summarize

L = keras.layers
SPEC_FILES = sorted(SPECS.glob("*.yaml"))
SETTINGS = dict(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])


# ----- helpers -----


def comparable(config):
    """A config without `shared_object_id` (an in-memory id of a shared dtype policy object), and without the
    names of an RNN's cells (Keras numbers them process-wide: `gru_cell_3`)."""
    if isinstance(config, dict):
        if str(config.get("class_name", "")).endswith(("Cell", "Cells")) and isinstance(config.get("config"), dict):
            config = {**config, "config": {k: v for k, v in config["config"].items() if k != "name"}}
        return {k: comparable(v) for k, v in config.items() if k != "shared_object_id"}
    if isinstance(config, list | tuple):
        return [comparable(v) for v in config]
    return config


def as_data(model) -> dict:
    """The model's config.json as a `.keras` file holds it (JSON data)."""
    return json.loads(json.dumps(keras.saving.serialize_keras_object(model)))


def imported_model(source, **build):
    """The spec imported from `source` (a path or config data), and the model its YAML text builds."""
    imported = read_model(source)
    return imported.spec, netspec.build_model(dump_spec(imported), compile=False, **build)


def assert_same_config(original, rebuilt) -> None:
    a, b = comparable(original.get_config()), comparable(rebuilt.get_config())
    if isinstance(original, keras.Sequential):
        layers = {layer["config"]["name"]: layer for layer in b["layers"]}
        for layer in a["layers"][1:]:  # [0] is its InputLayer; the spec's input
            twin = layers[layer["config"]["name"]]
            assert (twin["class_name"], twin["config"]) == (layer["class_name"], layer["config"])
        return
    assert a == b


def leaves(model) -> list:
    """The model's layers, nested models opened, input layers left out."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += leaves(layer)
        elif not isinstance(layer, L.InputLayer):
            found.append(layer)
    return found


def same_predictions(a, b, shapes, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    x = [rng.normal(size=(2, *shape)).astype("float32") for shape in shapes]
    x = x[0] if len(x) == 1 else x
    for p, q in zip(keras.tree.flatten(a(x, training=False)), keras.tree.flatten(b(x, training=False))):
        np.testing.assert_allclose(np.asarray(p), np.asarray(q), rtol=1e-6, atol=1e-6)


# ----- Keras's own defaults -----


def test_object_defaults_are_keras_own():
    """OBJECT_DEFAULTS (what import leaves out of an initializer, regularizer or constraint) is what Keras writes
    for each class made without arguments."""
    for module, table in (("initializers", INITIALIZERS), ("regularizers", REGULARIZERS),
                          ("constraints", CONSTRAINTS)):
        for class_name in set(table.values()):
            made = getattr(getattr(keras, module), class_name)()
            assert {**OBJECT_DEFAULTS[class_name], **made.get_config()} == OBJECT_DEFAULTS[class_name], class_name


# ----- every spec of specs/: build, save, import, build -----


@pytest.mark.slow
@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_every_spec_round_trips(path, tmp_path):
    original = netspec.build_model(path, compile=False)
    saved = save_model(original, tmp_path / "model.keras")
    spec, rebuilt = imported_model(saved)
    assert_same_config(original, rebuilt)
    named = {layer.name for layer in load_spec(path).layers if layer.name}
    assert {layer["name"] for layer in spec["layers"] if "name" in layer} <= named  # no names Keras gives anyway
    keras.backend.clear_session(free_memory=False)


# ----- random specs of every layer type (tests/strategies.py) -----


def round_trip(spec: dict) -> None:
    original = netspec.build_model(spec, compile=False)
    try:
        _, rebuilt = imported_model(as_data(original))
        assert_same_config(original, rebuilt)
    finally:
        keras.backend.clear_session(free_memory=False)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(LAYER_TYPES))
@settings(max_examples=1, **SETTINGS)
@given(data=st.data())
def test_random_specs_round_trip(kind, data):
    round_trip(data.draw(specs_led_by(kind), label="spec"))


@pytest.mark.slow
@settings(max_examples=60, **SETTINGS)
@given(spec=mixed_specs())
def test_random_mixed_specs_round_trip(spec):
    round_trip(spec)


# ----- models written in Keras -----


def sequential():
    return keras.Sequential([
        keras.Input((12, 12, 3), name="image"),
        L.Rescaling(1 / 255), L.Conv2D(8, 3, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-4)),
        L.BatchNormalization(), L.MaxPooling2D(), L.Flatten(), L.Dropout(0.25),
        L.Dense(4, activation="softmax", kernel_initializer="he_normal", bias_initializer=keras.initializers.Constant(0.0),
                name="probs")], name="seq")


def sequential_built_without_input():
    model = keras.Sequential([L.Dense(6, activation="tanh"), L.Dense(2)], name="built")
    model.build((None, 5))
    return model


def branches():
    x = keras.Input((16, 16, 3), name="img")
    a = L.Conv2D(4, 3, padding="same", name="a")(x)
    b = L.DepthwiseConv2D(3, padding="same", name="b")(x)
    b = L.Conv2D(4, 1, name="b_proj")(b)
    s = L.Add(name="sum")([a, b])
    g = L.GlobalAveragePooling2D(keepdims=True, name="squeeze")(s)
    g = L.Conv2D(4, 1, activation="sigmoid", name="excite")(g)
    m = L.Multiply(name="scale")([s, g])
    c = L.Concatenate(name="cat")([m, L.ZeroPadding2D(((0, 1), (0, 1)))(L.SeparableConv2D(2, 2)(x))])
    y = L.MaxPooling2D(3, strides=2, padding="same", name="pool")(L.ReLU(max_value=6.0)(c))
    return keras.Model(x, L.Dense(3)(L.GlobalAveragePooling2D()(y)), name="branches")


def several_inputs_and_outputs():
    tokens = keras.Input((7,), dtype="int32", name="tokens")
    extra = keras.Input((7, 4), name="extra")
    e = L.Embedding(50, 4, mask_zero=False, name="embed")(tokens)
    s = L.Add()([e, extra])
    seq, h, c = L.LSTM(5, return_sequences=True, return_state=True, name="encoder")(s)
    attended = L.MultiHeadAttention(2, 3, name="attend")(seq, L.Dense(5, name="values")(extra))
    pooled = L.GlobalMaxPooling1D(name="pool")(attended)
    both = L.Concatenate()([pooled, h, c])
    return keras.Model([tokens, extra], [L.Dense(1, name="score")(both), L.Dense(3, name="kind")(h)],
                       name="several")


def wrappers():
    clips = keras.Input((4, 10, 10, 1), name="clips")
    x = L.TimeDistributed(L.Conv2D(3, 3), name="frames")(clips)
    x = L.TimeDistributed(L.Flatten())(x)
    x = L.Bidirectional(L.GRU(4, return_sequences=True), name="bi_gru")(x)
    x = L.Bidirectional(L.LSTM(3), backward_layer=L.LSTM(3, go_backwards=True, recurrent_dropout=0.1),
                        merge_mode="sum", name="bi_lstm")(x)
    return keras.Model(clips, L.Dense(2)(x), name="wrappers")


def nested():
    """A Sequential and a functional model used as layers, their names clashing with the outer model's."""
    x = keras.Input((6,), name="x")
    inner_in = keras.Input((6,))
    hidden = L.Dense(4, activation="relu", name="hidden")(inner_in)
    inner = keras.Model(inner_in, L.Dense(3, name="dense")(hidden), name="block")
    head = keras.Sequential([keras.Input((3,)), L.Dense(2, name="dense"), L.Activation("softmax", name="probs")],
                            name="head")
    y = L.Dense(6, name="dense")(x)
    return keras.Model(x, head(inner(y)), name="outer")


MODELS = {"sequential": (sequential, [(12, 12, 3)]), "built": (sequential_built_without_input, [(5,)]),
          "branches": (branches, [(16, 16, 3)]), "several": (several_inputs_and_outputs, None),
          "wrappers": (wrappers, [(4, 10, 10, 1)]), "nested": (nested, [(6,)])}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each model of MODELS saved as .keras with its weights, then imported with them: name -> (original,
    the spec's model with the imported weights, the spec)."""
    folder = tmp_path_factory.mktemp("keras_models")
    out = {}
    for name, (make, _) in MODELS.items():
        keras.utils.set_random_seed(1)
        original = make()
        path = folder / f"{name}.keras"
        original.save(path)
        imported = read_model(path)
        weights = import_weights(path, imported, folder / f"{name}.weights.h5")
        out[name] = (original, netspec.build_model(dump_spec(imported), compile=False, weights=weights),
                     imported.spec)
    return out


@pytest.mark.parametrize("name", [n for n in MODELS if n != "nested"])
def test_keras_models_round_trip_with_their_weights(saved, name):
    original, rebuilt, _ = saved[name]
    assert_same_config(original, rebuilt)
    shapes = MODELS[name][1]
    if shapes is None:  # token ids and floats
        rng = np.random.default_rng(0)
        x = [rng.integers(0, 50, size=(2, 7)).astype("int32"), rng.normal(size=(2, 7, 4)).astype("float32")]
        for p, q in zip(original(x, training=False), rebuilt(x, training=False)):
            np.testing.assert_allclose(np.asarray(p), np.asarray(q), rtol=1e-6, atol=1e-6)
    else:
        same_predictions(original, rebuilt, shapes)


def test_tensors_passed_by_keyword_are_read_as_netspec_passes_them():
    """keras records `mha(query=q, value=v)` apart from `mha(q, v)`; netspec passes them by position."""
    q, v = keras.Input((3, 4), name="q"), keras.Input((5, 4), name="v")
    by_keyword = keras.Model([q, v], L.MultiHeadAttention(1, 2, name="mha")(query=q, value=v))
    by_position = keras.Model([q, v], L.MultiHeadAttention(1, 2, name="mha")(q, v))
    assert read_model(as_data(by_keyword)).spec["layers"] == read_model(as_data(by_position)).spec["layers"] == [
        {"type": "multi_head_attention", "name": "mha", "inputs": ["q", "v"], "num_heads": 1, "key_dim": 2}]


def test_operations_on_tensors_become_the_layers_that_compute_them(tmp_path):
    x = keras.Input((4, 3), name="x")
    y = L.Dense(3, name="d")(x)
    z = y + x  # keras.ops.add of two tensors: an `add` layer
    top = keras.ops.maximum(z * 0.5, 3.0 - z) + 1  # with a number: `rescaling` (x * scale + offset)
    original = keras.Model(x, [top, y - 2])
    original.save(tmp_path / "ops.keras")
    imported = read_model(tmp_path / "ops.keras")
    types = [layer["type"] for layer in imported.spec["layers"]]
    assert types == ["dense", "add", "rescaling", "rescaling", "maximum", "rescaling", "rescaling"]
    assert {"scale": -1.0, "offset": 3.0}.items() <= imported.spec["layers"][3].items()  # 3.0 - z
    import_weights(tmp_path / "ops.keras", imported, tmp_path / "ops.weights.h5")
    same_predictions(original, netspec.build_model(dump_spec(imported), weights=tmp_path / "ops.weights.h5"),
                     [(4, 3)])
    divided = keras.Model(x, y / 3.0)  # not x * (1 / 3.0) to the last bit: refused rather than rounded
    with pytest.raises(ModelImportError, match="keras.ops.true_divide"):
        read_model(as_data(divided))


def test_nested_models_are_flattened_with_their_layers_names(saved):
    original, rebuilt, spec = saved["nested"]
    flat = leaves(original)
    assert [type(layer).__name__ for layer in flat] == [type(layer).__name__ for layer in rebuilt.layers[1:]]
    assert [layer.count_params() for layer in flat] == [layer.count_params() for layer in rebuilt.layers[1:]]
    for before, after in zip(flat, rebuilt.layers[1:]):
        config = {k: v for k, v in comparable(before.get_config()).items() if k != "name"}
        assert config == {k: v for k, v in comparable(after.get_config()).items() if k != "name"}
    # names kept; a name the outer model has already gets the nested model's name in front
    assert [layer.name for layer in rebuilt.layers[1:]] == ["dense", "hidden", "block_dense", "head_dense", "probs"]
    assert spec["layers"][2] == {"type": "dense", "name": "block_dense", "units": 3}
    same_predictions(original, rebuilt, [(6,)])


def test_the_imported_specs_read_as_written_by_hand(saved):
    spec = saved["sequential"][2]
    assert "outputs" not in spec and all("inputs" not in layer for layer in spec["layers"])
    assert spec["inputs"] == [{"name": "image", "shape": [12, 12, 3]}]
    unnamed = [{k: v for k, v in layer.items() if k != "name"} for layer in spec["layers"]]  # Keras's own names
    assert unnamed[1] == {"type": "conv2d", "filters": 8, "kernel_size": 3, "activation": "relu",
                          "kernel_regularizer": {"type": "l2", "l2": 0.0001}}
    assert unnamed[3] == {"type": "max_pooling2d"}  # pool_size 2 and strides = pool_size: defaults
    assert spec["layers"][-1] == {"type": "dense", "name": "probs", "units": 4, "activation": "softmax",
                                  "kernel_initializer": "he_normal",  # Keras cannot make `constant` from its name:
                                  "bias_initializer": {"type": "constant", "value": 0.0}}
    pool = next(layer for layer in saved["branches"][2]["layers"] if layer.get("name") == "pool")
    assert pool == {"type": "max_pooling2d", "name": "pool", "pool_size": 3, "strides": 2, "padding": "same"}
    several = saved["several"][2]
    assert [i["name"] for i in several["inputs"]] == ["tokens", "extra"]
    assert several["inputs"][0]["dtype"] == "int32" and several["outputs"] == ["score", "kind"]
    attend = next(layer for layer in several["layers"] if layer.get("name") == "attend")
    assert attend == {"type": "multi_head_attention", "name": "attend", "inputs": ["encoder", "values"],
                      "num_heads": 2, "key_dim": 3}  # value_dim and attention_axes as Keras resolves them
    concat = next(layer for layer in several["layers"] if layer["type"] == "concatenate")
    assert concat["inputs"] == ["pool", "encoder[1]", "encoder[2]"]
    bi = {layer["name"]: layer for layer in saved["wrappers"][2]["layers"] if layer["type"] == "bidirectional"}
    assert "backward_layer" not in bi["bi_gru"]  # Keras's copy of `layer`
    assert bi["bi_lstm"]["backward_layer"]["recurrent_dropout"] == 0.1
    for spec in (s for _, _, s in saved.values()):
        load_spec(spec)  # validates


def test_training_defaults_are_keras_own():
    """A layer's node records `training` as its `call`'s default: True for these types (an import accepts it)."""
    import inspect

    from netspec.importer import _TRAINING_BY_DEFAULT

    found = set()
    for tag, cls in LAYER_TYPES.items():
        parameter = inspect.signature(getattr(L, cls.keras_class).call).parameters.get("training")
        if parameter is not None and parameter.default is True:
            found.add(tag)
    assert found == _TRAINING_BY_DEFAULT


# ----- what has no netspec equivalent -----


@keras.saving.register_keras_serializable(package="tests")
class Twice(L.Layer):
    def call(self, x):
        return 2 * x


@pytest.fixture(scope="module")
def unsupported(tmp_path_factory):
    warnings.filterwarnings("ignore", "You passed `rms_scaling=True`")  # Keras warns of its own deprecation
    warnings.filterwarnings("ignore", "The object being serialized includes a `lambda`")
    x = keras.Input((4,), name="x")
    y = L.Lambda(lambda t: t * 2, name="double")(x)
    y = Twice(name="twice")(y)
    y = L.Solarization(name="mask")(y)
    y = L.Dropout(0.5, name="mc")(y, training=True)
    y = L.Dense(3, activation=lambda t: t, name="odd_activation")(y)
    y = L.LayerNormalization(rms_scaling=True, name="rms")(y)
    y = keras.ops.exp(y)  # an operation that no layer computes
    shared = L.Dense(3, name="shared")
    path = tmp_path_factory.mktemp("bad") / "bad.keras"
    keras.Model(x, shared(shared(y))).save(path)
    return path


def test_every_unsupported_part_is_named_at_once_and_nothing_is_run(unsupported):
    with pytest.raises(ModelImportError) as info:
        read_model(unsupported)
    found = {d.path: d.message for d in info.value.diagnostics}
    assert all(d.file == str(unsupported) for d in info.value.diagnostics)
    assert "runs arbitrary Python code" in found["double"]
    assert "custom layer class" in found["twice"] and "tests>Twice" in found["twice"]
    assert "no `solarization` layer type" in found["mask"]
    assert "`training=true`" in found["mc"]
    assert "odd_activation" in found and "activation" in found["odd_activation"]
    assert "`rms_scaling` (=true) has no netspec equivalent" in found["rms"]
    assert "called 2 times" in found["shared"]
    assert any("operation keras.ops.exp" in message for message in found.values())  # named by Keras's counter
    assert len(info.value.diagnostics) == 8  # each problem once


def test_cli_reports_them_one_a_line_with_exit_1(unsupported, tmp_path, capsys):
    assert main(["import", str(unsupported), "-o", str(tmp_path / "bad.yaml")]) == 1
    err = capsys.readouterr().err
    assert f"{unsupported}: error: double: layer `double` (Lambda) runs arbitrary Python code" in err
    assert "Traceback" not in err and not (tmp_path / "bad.yaml").exists()


def test_layer_settings_with_no_spec_form_are_refused():
    x = keras.Input((4,), batch_size=8, name="fixed")
    policy_model = keras.Model(x, L.Dense(2, dtype="float64", name="wide")(x))
    with pytest.raises(ModelImportError) as info:
        read_model(as_data(policy_model))
    messages = " ".join(d.message for d in info.value.diagnostics)
    assert "fixed batch size (8)" in messages and "dtype policy 'float64'" in messages
    encoder = keras.Input((None, 3), name="encoder_in")
    _, h, c = L.LSTM(4, return_state=True, name="encoder")(encoder)
    decoder = keras.Input((None, 3), name="decoder_in")
    seq2seq = keras.Model([encoder, decoder], L.LSTM(4, name="decoder")(decoder, initial_state=[h, c]))
    with pytest.raises(ModelImportError, match=r"tensor\(s\) `encoder\[1\]`, `encoder\[2\]` as `initial_state`"):
        read_model(as_data(seq2seq))


def test_files_that_are_not_keras_3_models(tmp_path):
    (tmp_path / "old.keras").write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(UsageError, match="not a zip archive"):
        read_model(tmp_path / "old.keras")
    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as archive:
        archive.writestr("metadata.json", "{}")
    with pytest.raises(UsageError, match="has no config.json"):
        read_model(tmp_path / "empty.keras")
    (tmp_path / "config.json").write_text(json.dumps({"class_name": "MyModel", "config": {}}))
    with pytest.raises(UsageError, match="subclassed model"):
        read_model(tmp_path / "config.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(UsageError, match="not valid JSON"):
        read_model(tmp_path / "broken.json")
    with pytest.raises(UsageError, match="no such file"):
        read_model(tmp_path / "missing.keras")


# ----- the command line: import, build --weights, train --init-weights -----


def test_cli_import_writes_the_spec_and_weights(saved, tmp_path, capsys):
    original = saved["branches"][0]
    original.save(tmp_path / "branches.keras")
    code = main(["import", str(tmp_path / "branches.keras"), "-o", str(tmp_path / "b.yaml"), "--weights",
                 str(tmp_path / "b.weights.h5")])
    out = capsys.readouterr().out
    assert code == 0 and f"(14 layers, {original.count_params():,} parameters) and " in out
    text = (tmp_path / "b.yaml").read_text()
    assert text.startswith("# Imported by `netspec import` from branches.keras.")
    assert "  - {type: conv2d, name: a, inputs: [img], filters: 4, kernel_size: 3, padding: same}\n" in text
    assert "  - {type: global_average_pooling2d}\n" in text  # Keras's name is netspec's automatic one
    assert main(["build", str(tmp_path / "b.yaml"), "--weights", str(tmp_path / "b.weights.h5"), "-o",
                 str(tmp_path / "b2.keras")]) == 0
    same_predictions(original, keras.saving.load_model(tmp_path / "b2.keras"), [(16, 16, 3)])
    assert main(["import", str(tmp_path / "branches.keras"), "-o", str(tmp_path / "c.yaml"), "--weights",
                 str(tmp_path / "c.h5")]) == 2
    assert ".weights.h5" in capsys.readouterr().err and not (tmp_path / "c.yaml").exists()


@pytest.mark.slow
def test_train_starts_from_the_imported_weights(tmp_path):
    keras.utils.set_random_seed(3)
    frozen = L.Conv2D(4, 3, activation="relu", trainable=False, name="features")
    x = keras.Input((8, 8, 1), name="image")
    model = keras.Model(x, L.Dense(10, activation="softmax", name="digit")(L.Flatten()(frozen(x))), name="digits")
    model.save(tmp_path / "digits.keras")
    assert main(["import", str(tmp_path / "digits.keras"), "-o", str(tmp_path / "digits.yaml"), "--weights",
                 str(tmp_path / "digits.weights.h5")]) == 0
    assert main(["train", str(tmp_path / "digits.yaml"), "--data", "builtin:digits", "--epochs", "1",
                 "--init-weights", str(tmp_path / "digits.weights.h5"), "--out", str(tmp_path / "run"),
                 "--set", "training.loss=sparse_categorical_crossentropy"]) == 0
    trained = netspec.load_model(tmp_path / "run")
    for before, after in zip(frozen.get_weights(), trained.get_layer("features").get_weights()):
        np.testing.assert_array_equal(before, after)  # frozen: still the imported weights
    assert json.loads((tmp_path / "run" / "run.json").read_text())["init_weights"].endswith("digits.weights.h5")


# ----- published networks (keras.applications, no download) -----


APPLICATIONS = {
    "ResNet50": lambda: keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10),
    "EfficientNetB0": lambda: keras.applications.EfficientNetB0(weights=None, input_shape=(64, 64, 3), classes=10),
}


def keras_figures(model) -> list[dict]:
    """Per layer, what `netspec summary --json` reports: name, output shape (null batch), parameters."""
    rows = []
    for layer in model.layers:
        if isinstance(layer, L.InputLayer):
            continue
        outputs = layer.output if isinstance(layer.output, list | tuple) else [layer.output]
        shapes = [list(o.shape) for o in outputs]
        rows.append({"name": layer.name, "output_shape": shapes[0] if len(shapes) == 1 else shapes,
                     "params": layer.count_params()})
    return rows


def assert_summary_matches(original, spec) -> None:
    summary = summarize(spec)
    assert [{k: row[k] for k in ("name", "output_shape", "params")} for row in summary["layers"]] == keras_figures(
        original)
    assert summary["total_params"] == original.count_params()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_applications_import_to_the_same_model(name, tmp_path):
    original = APPLICATIONS[name]()
    with zipfile.ZipFile(tmp_path / "model.keras", "w") as archive:  # the .keras file's architecture part
        archive.writestr("config.json", json.dumps(keras.saving.serialize_keras_object(original)))
    spec, rebuilt = imported_model(tmp_path / "model.keras")
    assert_same_config(original, rebuilt)
    assert_summary_matches(original, spec)
    keras.backend.clear_session(free_memory=False)


@pytest.mark.slow
def test_mobilenet_v2_saved_with_weights_predicts_the_same(tmp_path):
    original = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35, classes=10)
    original.save(tmp_path / "mobilenet.keras")
    imported = read_model(tmp_path / "mobilenet.keras")
    weights = import_weights(tmp_path / "mobilenet.keras", imported, tmp_path / "mobilenet.weights.h5")
    rebuilt = netspec.build_model(imported.spec, compile=False, weights=weights)
    assert imported.spec["name"] == "mobilenetv2_0_35_96"  # `mobilenetv2_0.35_96` is not an identifier
    original_config = {**comparable(original.get_config()), "name": "mobilenetv2_0_35_96"}
    assert original_config == comparable(rebuilt.get_config())
    assert_summary_matches(original, imported.spec)
    same_predictions(original, rebuilt, [(96, 96, 3)])
    assert any("mobilenetv2_0.35_96" in note for note in imported.notes)
