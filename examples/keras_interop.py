"""netspec models are plain Keras: use one in your own training code, then take the script with you.

  1. `netspec.build_model(spec)` returns a `keras.Model`, compiled with the spec's optimizer, loss and
     metrics when the spec has a `training` section;
  2. train it with your own `model.fit`, data pipeline and callbacks (here a tf.data pipeline from NumPy,
     EarlyStopping and a callback of our own), as with any Keras model;
  3. `netspec.generate_script(spec)` writes the standalone script that `netspec train` runs: Keras and
     NumPy only, for you to read, change and keep.

Run it:  python examples/keras_interop.py          (--quick: fewer epochs, for CI)
"""

import argparse
import os
import tempfile

import keras
import numpy as np
from sklearn.datasets import load_digits

import netspec

SPEC = "specs/digits_lstm.yaml"  # an LSTM over the digits' 8 rows of 8 pixels


class EpochPrinter(keras.callbacks.Callback):
    """Our own callback: one short line per epoch."""

    def on_epoch_end(self, epoch, logs=None):
        print(f"epoch {epoch + 1}: loss {logs['loss']:.3f}, val_accuracy {logs['val_accuracy']:.3f}")


def main(quick=False):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = netspec.load_spec(os.path.join(root, SPEC))
    model = netspec.build_model(spec)  # compiled: the spec has a training section
    print(f"{model.name}: {model.count_params():,} parameters, optimizer {type(model.optimizer).__name__}")

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")  # (1797, 8, 8): 8 steps of 8 features
    y = digits.target
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[:1500], order[1500:]

    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x[train], y[train])).shuffle(1500, seed=0).batch(64)
    model.fit(dataset, validation_data=(x[test], y[test]), epochs=2 if quick else 20, verbose=0, shuffle=False,
              callbacks=[keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True), EpochPrinter()])
    print("test:", model.evaluate(x[test], y[test], verbose=0, return_dict=True))

    script = os.path.join(tempfile.mkdtemp(), "train_digits_lstm.py")
    with open(script, "w", encoding="utf-8") as file:
        file.write(netspec.generate_script(spec))
    with open(script, encoding="utf-8") as file:
        lines = file.read().splitlines()
    print(f"\nwrote {script} ({len(lines)} lines); run it with `python {os.path.basename(script)} --help`:")
    print("\n".join("    " + line for line in lines[:6]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two epochs")
    main(parser.parse_args().quick)
