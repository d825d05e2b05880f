"""From NumPy data to a saved model: a hybrid CNN + RNN that tells which way a square moves.

The whole flow of the library API, in order:
  1. prepare sequences of images with NumPy (short clips of a square moving up, down, left or right);
  2. write the network as a Python dict: convolutions applied to every frame (`time_distributed`), then an
     LSTM over the frames, then a softmax over the four directions;
  3. check it with `netspec.summarize` (shapes and parameters, no TensorFlow), build and train it with
     `netspec.train` on the arrays, and evaluate it on held-out clips;
  4. load the saved model back and predict the direction of new clips.

Run it:  python examples/hybrid_numpy.py          (--quick: fewer clips and epochs, for CI)
"""

import argparse
import tempfile

import numpy as np

import netspec

DIRECTIONS = ["up", "down", "left", "right"]
FRAMES, SIZE = 8, 12  # each clip: 8 frames of 12x12 pixels


def clips(count, seed):
    """`count` clips (count, FRAMES, SIZE, SIZE, 1) of a 3x3 square moving one pixel a frame, and directions."""
    rng = np.random.default_rng(seed)
    x = np.zeros((count, FRAMES, SIZE, SIZE, 1), dtype="float32")
    y = rng.integers(0, len(DIRECTIONS), size=count)
    steps = {0: (-1, 0), 1: (1, 0), 2: (0, -1), 3: (0, 1)}  # (row, column) per frame
    for i, direction in enumerate(y):
        d_row, d_col = steps[int(direction)]
        # Start where the square stays inside the picture for all frames.
        row = rng.integers(FRAMES if d_row < 0 else 0, SIZE - 3 - (FRAMES if d_row > 0 else 0) + 1)
        col = rng.integers(FRAMES if d_col < 0 else 0, SIZE - 3 - (FRAMES if d_col > 0 else 0) + 1)
        for t in range(FRAMES):
            r, c = row + d_row * t, col + d_col * t
            x[i, t, r:r + 3, c:c + 3, 0] = 1.0
    x += rng.normal(0, 0.1, x.shape).astype("float32")  # a little noise, so it has something to learn
    return x, y


SPEC = {
    "name": "moving_square",
    "inputs": [{"name": "clip", "shape": [FRAMES, SIZE, SIZE, 1]}],
    "layers": [
        # The same small CNN reads each frame: its weights are shared across time.
        {"type": "time_distributed", "layer": {"type": "conv2d", "filters": 8, "kernel_size": 3, "activation": "relu"}},
        {"type": "time_distributed", "layer": {"type": "max_pooling2d", "pool_size": 2}},
        {"type": "time_distributed", "layer": {"type": "flatten"}},
        # The LSTM reads the frames' features in order: the motion is in how they change.
        {"type": "lstm", "units": 32},
        {"type": "dense", "units": len(DIRECTIONS), "activation": "softmax", "name": "direction"},
    ],
    "training": {"optimizer": {"type": "adam", "learning_rate": 0.003}, "loss": "sparse_categorical_crossentropy",
                 "metrics": ["accuracy"], "batch_size": 32, "epochs": 15, "seed": 0},
}


def main(quick=False):
    x, y = clips(400 if quick else 2000, seed=0)

    summary = netspec.summarize(SPEC)
    for layer in summary["layers"]:
        print(f"{layer['name']:<28} {str(tuple(layer['output_shape'][1:])):<18} {layer['params']:>7,} parameters")
    print(f"{summary['total_params']:,} parameters in all\n")

    out = tempfile.mkdtemp(prefix="moving_square_")
    # netspec checks the arrays against the inputs and outputs first, holds out 20% for the test and 10% of the
    # rest for validation, trains, evaluates on the test part and saves everything in the run folder.
    result = netspec.train(SPEC, data=(x, y), epochs=3 if quick else None, out=out, verbose=0)
    print(f"trained {result.epochs} epochs; test accuracy {result.metrics['accuracy']:.3f}")

    model = netspec.load_model(result.run_dir)  # the run folder's model.keras, as plain Keras
    new_x, new_y = clips(8, seed=1)
    predicted = model.predict(new_x, verbose=0).argmax(axis=1)
    for truth, guess in zip(new_y, predicted):
        print(f"moving {DIRECTIONS[truth]:<5} -> predicted {DIRECTIONS[guess]}")
    if not quick:
        assert result.metrics["accuracy"] > 0.9, result.metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer clips and epochs")
    main(parser.parse_args().quick)
