"""Adapting: the layers a spec leaves to the data learn it from the training features before fitting
(netspec.runtime.adapt, which the runner and the generated scripts both call)."""

from __future__ import annotations

import keras
import numpy as np
from runner_support import write_texts

import netspec
from netspec import lowering, runtime

TEXTS = {
    "name": "texts",
    "inputs": [{"name": "text", "shape": [], "dtype": "string"}],
    "layers": [
        {"type": "text_vectorization", "max_tokens": 30, "output_sequence_length": 6, "name": "words"},
        {"type": "embedding", "input_dim": 30, "output_dim": 8},
        {"type": "global_average_pooling1d"},
        {"type": "dense", "units": 2, "activation": "softmax"},
    ],
    "training": {"optimizer": {"type": "adam", "learning_rate": 0.05}, "loss": "sparse_categorical_crossentropy",
                 "metrics": ["accuracy"], "batch_size": 8, "epochs": 4, "seed": 2},
}


def test_a_text_folder_trains_on_an_adapted_vocabulary(tmp_path):
    """`netspec train` on a folder of two classes of texts: the vocabulary is learned from the training
    texts (read as training reads them), and the model tells the classes apart."""
    write_texts(tmp_path / "texts", np.random.default_rng(0), count=20)
    spec = {**TEXTS, "data": {"source": str(tmp_path / "texts"), "format": "text_folder", "test_split": 0.2}}
    result = netspec.train(spec, out=tmp_path / "run", verbose=0)
    vocabulary = result.model.get_layer("words").get_vocabulary()
    assert {"good", "awful", "film"} <= set(vocabulary) and len(vocabulary) <= 30
    assert result.history["accuracy"][-1] > 0.8
    assert result.metrics["accuracy"] > 0.5


def test_only_what_the_spec_leaves_to_the_data_is_adapted():
    spec = {"name": "t", "inputs": [{"name": "x", "shape": [3]}], "layers": [
        {"type": "normalization", "name": "given", "mean": 0.0, "variance": 1.0},
        {"type": "normalization", "name": "learned"},
        {"type": "discretization", "num_bins": 3, "name": "bins"},
        {"type": "discretization", "bin_boundaries": [0.0], "name": "fixed"}]}
    spec["layers"][3]["inputs"] = ["learned"]
    spec["outputs"] = ["bins", "fixed"]
    assert lowering.lower_program(netspec.load_spec(spec)).adapt == ("learned", "bins")


def test_adapt_reads_each_layers_own_input():
    """A layer on a model input adapts to the features as they are (strings too); one deeper, to what the
    layers before it (adapted first) make of them."""
    text = keras.Input((), dtype="string", name="text")
    number = keras.Input((1,), name="number")
    lookup = keras.layers.StringLookup(name="lookup")
    scaled = keras.layers.Normalization(name="scaled")(keras.layers.Rescaling(2.0)(number))
    model = keras.Model([text, number], [lookup(text), keras.layers.Normalization(name="again")(scaled)])
    features = {"text": np.array(["b", "a", "b"]), "number": np.array([[1.0], [2.0], [3.0]], "float32")}
    runtime.adapt(model, features, ["lookup", "scaled", "again"])
    assert lookup.get_vocabulary() == ["[UNK]", "b", "a"]
    np.testing.assert_allclose(np.ravel(model.get_layer("scaled").mean), [4.0])
    np.testing.assert_allclose(np.ravel(model.get_layer("again").mean), [0.0], atol=1e-6)
