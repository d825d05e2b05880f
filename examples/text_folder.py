"""From a folder of texts to a trained classifier: `text_vectorization` learns its vocabulary from the data.

  1. write a folder of class subfolders of .txt files (short reviews, `good/` and `bad/`), as a Keras user
     keeps texts for `keras.utils.text_dataset_from_directory`;
  2. write the network as a dict: a string input, `text_vectorization` (no vocabulary given: it is adapted
     to the training texts before training, by `netspec train` and by the script `netspec generate` prints
     alike), an embedding averaged over the words, and a softmax over the two classes;
  3. train it with `netspec.train` on the folder (streamed from disk), and look at the vocabulary it learned;
  4. predict the class of new sentences with the saved model.

Run it:  python examples/text_folder.py          (--quick: fewer texts and epochs, for CI)
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

import netspec

GOOD = ["great", "lovely", "excellent", "wonderful", "fine", "superb"]
BAD = ["awful", "poor", "boring", "terrible", "dull", "bad"]
FILLER = ["the", "film", "was", "plot", "acting", "really", "quite", "and", "story"]


def write_folder(root: Path, per_class: int, seed: int = 0) -> Path:
    """`per_class` short reviews a class, one .txt file each, in root/good and root/bad."""
    rng = np.random.default_rng(seed)
    for label, words in (("good", GOOD), ("bad", BAD)):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            text = list(rng.choice(FILLER, size=5)) + list(rng.choice(words, size=2))
            rng.shuffle(text)
            (root / label / f"{i:04d}.txt").write_text(" ".join(text), encoding="utf-8")
    return root


SPEC = {
    "name": "review_classifier",
    "inputs": [{"name": "text", "shape": [], "dtype": "string"}],
    "layers": [
        # No `vocabulary:` here: the layer is adapted to the training texts (the 40 most frequent words).
        {"type": "text_vectorization", "max_tokens": 40, "output_sequence_length": 8},
        {"type": "embedding", "input_dim": 40, "output_dim": 8},
        {"type": "global_average_pooling1d"},
        {"type": "dense", "units": 2, "activation": "softmax", "name": "review"},
    ],
    "training": {"optimizer": {"type": "adam", "learning_rate": 0.02}, "loss": "sparse_categorical_crossentropy",
                 "metrics": ["accuracy"], "batch_size": 16, "epochs": 10, "seed": 0},
}


def main(quick=False):
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_folder(Path(tmp) / "reviews", per_class=40 if quick else 200)
        spec = {**SPEC, "data": {"source": str(folder), "format": "text_folder", "test_split": 0.2},
                "training": {**SPEC["training"], "epochs": 4 if quick else 10}}
        result = netspec.train(spec, out=Path(tmp) / "run", verbose=0)
        print(f"test accuracy {result.metrics['accuracy']:.3f} after {result.epochs} epochs")
        vectorizer = next(layer for layer in result.model.layers if layer.name.startswith("text_vectorization"))
        print("vocabulary it learned (most frequent first):", [str(w) for w in vectorizer.get_vocabulary()[:12]])

        model = netspec.load_model(result.run_dir)  # classes in folder order: bad, good
        sentences = np.array(["the acting was superb and lovely", "a dull and terrible plot"], dtype=object)
        for sentence, probabilities in zip(sentences, model.predict(sentences, verbose=0)):
            print(f"{sentence!r}: {['bad', 'good'][int(np.argmax(probabilities))]} ({probabilities.max():.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer texts and epochs (for CI)")
    main(parser.parse_args().quick)
