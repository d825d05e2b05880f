"""The runner: train, evaluate and predict with a spec's model (imports Keras only when called)."""

from __future__ import annotations

from netspec.runner.inference import evaluate, predict
from netspec.runner.trainer import TrainResult, train

__all__ = ["TrainResult", "evaluate", "predict", "train"]
