"""What a training run does on the machine it runs on, written once for `netspec train` and the scripts.

Every function here is plain Keras and NumPy (and tf.data, imported by the
functions that stream data from disk): the runner imports this module, and
`netspec generate` copies the source of the functions a spec needs into its
script (netspec/codegen/script.py), so that the two run the same code.
So nothing here may use netspec, module-level state or names of this module
other than the functions themselves, `keras` and `np`, and every line must
read well in a script: short docstrings, lines under 89 columns.

Decisions that depend on the machine (precision `auto`, execution `auto`)
are made here at run time: a script generated on a laptop and run on a GPU
machine decides for the GPU.
"""

from __future__ import annotations

import keras
import numpy as np

# ----- the machine -----


def gpu_capability():
    """(major, minor) compute capability of the first GPU, or None on a CPU."""
    if keras.backend.backend() == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        return tuple(map(int, gpus[0].compute_capability.split("."))) if gpus else None
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
    return tuple(details.get("compute_capability", (0, 0))) if gpus else None


def choose_settings(
    precision, jit_compile, steps, capability, steps_per_epoch, epochs, flops, mirrored
):
    """What `auto` leaves to the machine: bfloat16 on GPUs of compute capability 8.0+,
    else float16, float32 on CPUs; XLA off with TensorFlow on CPUs; up to 32 steps per
    call, but one on CPUs for steps of 5+ GFLOP or runs of under 500 steps (they never
    repay the loop's longer tracing), and under TensorFlow's MirroredStrategy (whose
    multi-step loop fails)."""
    cpu = capability is None
    if precision == "auto":
        precision = "float32" if cpu else "mixed_float16"
        precision = "mixed_bfloat16" if not cpu and capability >= (8, 0) else precision
    if jit_compile == "auto" and cpu:
        jit_compile = "auto" if keras.backend.backend() != "tensorflow" else False
    if steps == "auto":
        one = (cpu and (flops >= 5e9 or steps_per_epoch * epochs < 500)) or mirrored
        steps = 1 if one else max(1, min(32, steps_per_epoch))
    return precision, jit_compile, steps


# ----- many devices and processes -----


def cluster(environ):
    """(processes, process id, coordinator host:port) from the KERAS_DISTRIBUTION_*
    variables, else Slurm's (JAX finds the coordinator there); one process by default."""
    if "KERAS_DISTRIBUTION_NUM_PROCESSES" in environ:
        return (
            int(environ["KERAS_DISTRIBUTION_NUM_PROCESSES"]),
            int(environ.get("KERAS_DISTRIBUTION_PROCESS_ID", 0)),
            environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"),
        )
    if int(environ.get("SLURM_NTASKS", 1)) > 1:
        return int(environ["SLURM_NTASKS"]), int(environ["SLURM_PROCID"]), None
    return 1, 0, None


def distribute(devices, processes, process_id, coordinator):
    """Data parallelism over `devices` devices (None: every one), of every process:
    Keras's DataParallel on JAX, MirroredStrategy on TensorFlow (one process only).
    Returns the scope to build the model in and the number of replicas."""
    import contextlib

    if keras.backend.backend() == "jax":
        if processes > 1:
            import jax  # CPUs reach other processes through gloo

            jax.config.update("jax_cpu_collectives_implementation", "gloo")
            keras.distribution.initialize(coordinator, processes, process_id)
        found = keras.distribution.list_devices()[:devices]
        if len(found) > 1:
            distribution = keras.distribution.DataParallel(devices=found)
            keras.distribution.set_distribution(distribution)
        return contextlib.nullcontext(), len(found)
    if processes > 1:
        raise SystemExit("several processes train through keras.distribution: JAX only")
    if keras.backend.backend() != "tensorflow":
        return contextlib.nullcontext(), 1
    import tensorflow as tf

    found = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices()
    found = [device.name for device in found][:devices]
    if len(found) < 2:
        return contextlib.nullcontext(), 1
    return tf.distribute.MirroredStrategy(found).scope(), len(found)


def batches(data, batch_size, shuffle, seed):
    """A part as whole batches (tf.data), each shared out by Keras among the devices
    and processes; the last, partial one is left out, as they cannot share it."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(tuple(data))
    if shuffle:
        dataset = dataset.shuffle(len(keras.tree.flatten(data)[0]), seed)
    return dataset.batch(batch_size, drop_remainder=True)


# ----- reading data: features and labels, one list of arrays each -----


def load_digits(sequence=False):
    """scikit-learn's 8x8 digits in [0, 1]: images (8, 8, 1), or 8 steps of 8 features."""
    from sklearn.datasets import load_digits as read_digits

    digits = read_digits()
    images = (digits.images / 16.0).astype("float32")  # pixel values are 0..16
    return [images if sequence else images[..., None]], [digits.target.astype("int32")]


def load_keras(name):
    """A keras.datasets data set (downloaded on first use): (train, test), uint8 images
    scaled to [0, 1]."""
    (x, y), (x_test, y_test) = getattr(keras.datasets, name).load_data()

    def part(x, y):
        x = x.astype("float32") / 255.0 if x.dtype == np.uint8 else x
        return [x], [
            y.reshape(len(y), -1)[:, 0] if y.ndim > 1 and y.shape[-1] == 1 else y
        ]

    return part(x, y), part(x_test, y_test)


def load_npz(path, x_keys, y_keys):
    """The arrays of an .npz file: features under the first list of `x_keys` whose keys
    the file holds, labels likewise (none when it holds none)."""
    with np.load(path, allow_pickle=False) as arrays:
        x, y = (
            [k for k in keys if set(k) <= set(arrays.files)]
            for keys in (x_keys, y_keys)
        )
        return [arrays[k] for k in x[0]], [arrays[k] for k in (y[0] if y else [])]


def load_npy(path):
    """One .npy array of features (memory-mapped: read as training needs it), no labels."""
    return [np.load(path, mmap_mode="r", allow_pickle=False)], []


def load_csv(path, x_columns, y_column):
    """A CSV table with a header row (or none: columns 0, 1, ...): float32 features, and
    labels (integers where every label is whole)."""
    rows = np.loadtxt(path, delimiter=",", dtype=str, ndmin=2, encoding="utf-8")
    try:
        rows[0].astype("float64")
        header = [str(i) for i in range(rows.shape[1])]
    except ValueError:
        header, rows = [column.strip() for column in rows[0]], rows[1:]
    y_column = y_column or next((c for c in ("label", "y") if c in header), header[-1])
    x_columns = x_columns or [c for c in header if c != y_column]
    features = rows[:, [header.index(c) for c in x_columns]].astype("float32")
    labels = rows[:, header.index(y_column)].astype("float64")
    whole = np.all(labels == np.round(labels))
    return [features], [labels.astype("int64") if whole else labels]


def list_folder(path, suffixes):
    """A folder of class subfolders: the path of each file with one of `suffixes`, and
    its class id, as keras.utils.image_dataset_from_directory lists them (its lister is
    private, and text_dataset_from_directory gives no paths). `stream` reads them."""
    import os

    paths, labels = [], []
    for label, name in enumerate(sorted(next(os.walk(path))[1])):
        for root, _, files in sorted(os.walk(os.path.join(path, name))):
            found = [f for f in sorted(files) if f.lower().endswith(suffixes)]
            paths += [os.path.join(root, f) for f in found]
            labels += [label] * len(found)
    return np.array(paths, dtype=str), np.array(labels, dtype="int32")


def image_reader(image_size, channels):
    """Reads an image file as keras.utils.image_dataset_from_directory does: `channels`
    channels, resized (bilinear) to `image_size`, float32 in [0, 255]."""
    import tensorflow as tf

    def read(path):
        image = tf.io.read_file(path)
        image = tf.image.decode_image(image, channels, expand_animations=False)
        return tf.image.resize(image, image_size)

    return read


def text_reader():
    """Reads a text file as one string (bytes that are not UTF-8 replaced)."""
    import tensorflow as tf

    def read(path):
        text = tf.io.read_file(path)
        return tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")

    return read


def synthetic(inputs, outputs, samples, num_classes, seed):
    """Random features shaped like the model's inputs (axes of any length: 8), and labels
    its losses take: `outputs` maps each output to (shape, kind of labels)."""
    rng = np.random.default_rng(seed)
    x, y = [], []
    for shape, dtype in inputs.values():
        shape = (samples, *(d or 8 for d in shape))
        if dtype == "string":
            x.append(np.array([f"sample {i}" for i in range(samples)]).reshape(shape))
        elif dtype in ("int32", "int64", "uint8", "bool"):
            x.append(rng.integers(0, 2, size=shape).astype(dtype))
        else:
            x.append(rng.random(shape, dtype="float32"))
    for shape, kind in outputs.values():
        shape = tuple(d or 8 for d in shape)
        if kind == "sparse":
            classes = num_classes or shape[-1]
            y.append(
                rng.integers(0, classes, size=(samples, *shape[:-1])).astype("int32")
            )
        elif kind == "one_hot":
            ids = rng.integers(0, shape[-1], size=(samples, *shape[:-1]))
            y.append(np.eye(shape[-1], dtype="float32")[ids])
        elif kind == "binary":
            y.append(rng.integers(0, 2, size=(samples, *shape)).astype("float32"))
        else:
            y.append(rng.random((samples, *shape), dtype="float32"))
    return x, y


def balanced_class_weight(labels):
    """{class id: n_samples / (n_classes * count)}: rare classes weigh more in the loss."""
    classes, counts = np.unique(np.asarray(labels).reshape(-1), return_counts=True)
    weights = len(labels) / (len(classes) * counts)
    return {int(c): float(w) for c, w in zip(classes, weights)}


def adapt(model, features, names):
    """Fit the layers `names` that learn from data before training (vocabularies, bins,
    normalization statistics) on the training features that reach them, in the model's
    order. `features`: arrays (one, or a dict by input), or a tf.data.Dataset of them."""
    dataset = hasattr(features, "element_spec")
    by_input = isinstance(features.element_spec if dataset else features, dict)
    for layer in [layer for layer in model.layers if layer.name in names]:
        read = [x for x in model.inputs if x is layer.input]
        if not read:  # what the layers before it make of the features
            import tensorflow as tf

            batches = features  # tf.data takes NumPy strings; predict does not
            if not dataset:
                batches = tf.data.Dataset.from_tensor_slices(features).batch(256)
            data = keras.Model(model.inputs, layer.input).predict(batches, verbose=0)
        elif by_input and dataset:
            data = features.map(lambda x, key=read[0].name: x[key])
        else:  # strings too, as they are (predict takes no NumPy strings)
            data = features[read[0].name] if by_input else features
        layer.adapt(data)


# ----- arrays as the model takes them -----


def conform(data, inputs, labels):
    """(features, labels) as model.fit takes them: each array reshaped to its input's
    (output's) shape, in its dtype; one array, or a dict by name of several."""
    parts = []
    for arrays, table in zip(data, (inputs, labels)):
        part = {}
        for array, (name, (shape, dtype)) in zip(arrays, table.items()):
            if None not in shape:
                array = np.reshape(array, (-1, *shape))
            part[name] = np.asarray(array, object if dtype == "string" else dtype)
        parts.append(part.popitem()[1] if len(part) == 1 else part or None)
    return tuple(parts)


def stream(part, read, inputs, labels, batch_size, seed=None):
    """A part of files, (paths, class ids), as a tf.data.Dataset of batches that `read`
    fills as training takes them: memory holds a few batches, not the folder. Samples
    are shaped as the input (output) takes them, and shuffled anew each epoch with
    `seed` unless it is None. None stays None."""
    import tensorflow as tf

    if part is None:
        return None
    [(x_shape, x_type)], [(y_shape, y_type)] = inputs.values(), labels.values()

    def sample(path, label):
        x, y = tf.reshape(read(path), x_shape), tf.reshape(label, y_shape)
        return tf.cast(x, x_type), tf.cast(y, y_type)

    files = tf.data.Dataset.from_tensor_slices(part)
    if seed is not None:
        files = files.shuffle(len(part[0]), seed=seed)
    samples = files.map(sample, num_parallel_calls=tf.data.AUTOTUNE)
    return samples.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def stream_rows(part, rows, inputs, labels, batch_size, seed=None):
    """The rows `rows` of a part's arrays as a tf.data.Dataset of batches, each read and
    conformed as training takes it: a memory-mapped file stays on disk. Shuffled anew
    each epoch with `seed` unless it is None."""
    import tensorflow as tf

    x, y = (
        [] if p is None else [p] if hasattr(p, "shape") else list(p.values())
        for p in part
    )
    rng = np.random.default_rng(seed)

    def batch(index):
        taken = conform(([a[index] for a in x], [a[index] for a in y]), inputs, labels)
        return taken if taken[1] is not None else taken[0]

    def batches():
        order = rows if seed is None else rng.permutation(rows)
        for start in range(0, len(order), batch_size):
            yield batch(order[start : start + batch_size])

    first = batch(rows[:1])
    signature = keras.tree.map_structure(
        lambda a: tf.TensorSpec((None, *a.shape[1:]), a.dtype), first
    )
    steps = -(-len(rows) // batch_size)
    data = tf.data.Dataset.from_generator(batches, output_signature=signature)
    return data.apply(tf.data.experimental.assert_cardinality(steps))


def split(data, seed, test_split, validation_split, test=None, validation=None):
    """(train, validation, test): a permutation seeded with `seed` holds out a share
    of `data` for the test and then for validation, unless they are given."""
    order = np.random.default_rng(seed).permutation(len(keras.tree.flatten(data)[0]))

    def take(index):
        return keras.tree.map_structure(lambda array: array[index], data)

    if test is None and test_split > 0:
        count = max(1, round(len(order) * test_split))
        test, order = take(order[:count]), order[count:]
    if validation is None and validation_split > 0:
        count = max(1, round(len(order) * validation_split))
        validation, order = take(order[:count]), order[count:]
    return take(np.sort(order)), validation, test
