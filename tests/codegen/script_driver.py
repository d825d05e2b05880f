"""Runs generated scripts for real, in a process where `import netspec` fails.

Usage: python script_driver.py JOBS.json RESULTS.json

For each job {"script", "out", "args", "seed"}: import the script as a module,
record what its build_model() returns (architecture JSON, initial weights with
the job's seed, parameter count), then run its main() with the job's command
line (a short training run). Results go to RESULTS.json; weights beside it.
This file imports nothing from netspec or the tests, on purpose.
"""

import json
import os
import runpy
import sys
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import keras  # noqa: E402
import numpy as np  # noqa: E402


def describe(model, seed):
    return {
        "json": model.to_json(),
        "params": int(model.count_params()),
        "layers": [(layer.name, type(layer).__name__) for layer in model.layers],
        "output_shapes": [list(t.shape) for t in model.outputs],
        "seed": seed,
    }


def run(job):
    result = {"script": job["script"]}
    namespace = runpy.run_path(job["script"], run_name="generated_script")
    keras.mixed_precision.set_global_policy("float32")
    keras.backend.clear_session()
    keras.utils.set_random_seed(job["seed"])
    model = namespace["build_model"]()
    result["model"] = describe(model, job["seed"])
    weights_file = job["out"] + ".weights.npz"
    np.savez(weights_file, *[np.asarray(w) for w in model.get_weights()])
    result["weights"] = weights_file
    keras.backend.clear_session()
    namespace["main"](job["args"])
    with open(os.path.join(job["out"], "metrics.json"), encoding="utf-8") as file:
        result["metrics"] = json.load(file)
    result["policy"] = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("float32")
    return result


def main():
    jobs_file, results_file = sys.argv[1:3]
    with open(jobs_file, encoding="utf-8") as file:
        jobs = json.load(file)
    results = []
    for job in jobs:
        started = time.perf_counter()
        try:
            result = run(job)
        except BaseException:  # noqa: B036 - SystemExit from a script is a failure to report too
            result = {"script": job["script"], "error": traceback.format_exc()}
        result["seconds"] = round(time.perf_counter() - started, 2)
        results.append(result)
    modules = sorted(m for m in sys.modules if m.split(".")[0] in ("netspec", "tests"))
    with open(results_file, "w", encoding="utf-8") as file:
        json.dump({"results": results, "netspec_modules": modules}, file)


if __name__ == "__main__":
    main()
