"""Runs training runs and records what they compiled, split and logged (tests/runner/test_one_program.py).

Usage: python program_driver.py runner|script JOBS.json RESULTS.json

`runner` jobs train a spec with netspec.train; `script` jobs run a generated script's main() in a process where
`import netspec` fails (the caller sets that up). Either way the same probe wraps keras.Model.compile, fit and
evaluate, so both are described alike: the compiled configuration, the callbacks' settings, the number of
samples each part has, and the history. Runs are deterministic: TF_DETERMINISTIC_OPS=1 is set by the caller.
"""

import json
import os
import runpy
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import keras  # noqa: E402

RECORD = {}
_compile, _fit, _evaluate = keras.Model.compile, keras.Model.fit, keras.Model.evaluate
# What a tool adds around the program (tests compare the program itself): the runner's history recorder,
# TensorBoard scalars, and its resume state (Backup, its BackupAndRestore), which the script keeps only where the
# spec lists it.
TOOL_CALLBACKS = ("Recorder", "ScalarLog", "Backup", "BackupAndRestore", "History", "ProgbarLogger")


def samples(data):
    """Samples of arrays; of a tf.data.Dataset (a streamed folder), its batches: counting its samples would read
    it, and so move on its shuffling by an epoch."""
    if hasattr(data, "cardinality"):
        return f"{int(data.cardinality())} batches"
    return len(keras.tree.flatten(data)[0]) if data is not None else 0


def serialized(value):
    return json.loads(json.dumps(keras.saving.serialize_keras_object(value), default=str))


def callback_settings(callback, out):
    values = {}
    for key, value in sorted(vars(callback).items()):
        if key.startswith("_") or key == "model" or not isinstance(value, int | float | str | bool | type(None)):
            continue
        values[key] = value.replace(out, "<out>") if isinstance(value, str) else value
    return [type(callback).__name__, values]


def compile_probe(self, *args, **kwargs):
    RECORD["compile"] = {"loss": serialized(kwargs.get("loss")), "metrics": serialized(kwargs.get("metrics")),
                         "jit_compile": kwargs.get("jit_compile"),
                         "steps_per_execution": kwargs.get("steps_per_execution")}
    result = _compile(self, *args, **kwargs)
    RECORD["compile"]["optimizer"] = json.loads(json.dumps(self.optimizer.get_config(), default=str))
    return result


def fit_probe(self, x=None, y=None, *args, **kwargs):
    RECORD["train_samples"] = samples(x)
    RECORD["validation_samples"] = samples(kwargs.get("validation_data"))
    RECORD["batch_size"] = kwargs.get("batch_size")
    RECORD["callbacks"] = [callback_settings(c, RECORD["out"]) for c in kwargs.get("callbacks") or []
                           if type(c).__name__ not in TOOL_CALLBACKS]
    return _fit(self, x, y, *args, **kwargs)


def evaluate_probe(self, x=None, y=None, *args, **kwargs):
    RECORD["test_samples"] = samples(x)  # the last evaluate is the test
    return _evaluate(self, x, y, *args, **kwargs)


keras.Model.compile, keras.Model.fit, keras.Model.evaluate = compile_probe, fit_probe, evaluate_probe


def run(mode, job):
    RECORD.clear()
    RECORD["out"] = job["out"]
    keras.backend.clear_session()
    keras.config.set_dtype_policy("float32")
    if mode == "runner":
        import netspec

        netspec.train(job["spec"], epochs=2, seed=job["seed"], out=job["out"], verbose=0)
    else:
        runpy.run_path(job["script"], run_name="generated_script")["main"](
            ["--epochs", "2", "--seed", str(job["seed"]), "--out", job["out"]])
    with open(os.path.join(job["out"], "history.json"), encoding="utf-8") as file:
        RECORD["history"] = json.load(file)
    return {k: v for k, v in RECORD.items() if k != "out"}


def main():
    mode, jobs_file, results_file = sys.argv[1:4]
    with open(jobs_file, encoding="utf-8") as file:
        jobs = json.load(file)
    results = {}
    for job in jobs:
        try:
            results[job["name"]] = run(mode, job)
        except BaseException:  # noqa: B036 - SystemExit from a script is a failure to report too
            results[job["name"]] = {"error": traceback.format_exc()}
    results["_modules"] = sorted(m for m in sys.modules if m.split(".")[0] == "netspec")
    with open(results_file, "w", encoding="utf-8") as file:
        json.dump(results, file)


if __name__ == "__main__":
    main()
