"""Name helpers shared by every stage: "did you mean" suggestions and Keras-style layer names.

A leaf module: it imports nothing from netspec, so that composition, the
schema, the graph and the runner can all use it without importing each other.
"""

from __future__ import annotations

# The dtype policies a run can ask for; `auto` picks one by device (netspec.runtime.choose_precision).
# Here rather than in netspec.schema.training, so that the CLI's parser does not import the schema.
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def closest(word: str, choices, n: int = 1) -> str | None:
    import difflib  # only a mistake needs it

    found = difflib.get_close_matches(str(word), list(choices), n=n, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, choices) -> str | None:
    match = closest(word, choices)
    return f"did you mean `{match}`?" if match else None


def auto_names(layers, taken: set[str]) -> list[str]:
    """Keras's naming: the first `conv2d` is `conv2d`, then `conv2d_1`, ...

    `layers` are anything with `name` (None where unnamed) and `type`; the
    names chosen are added to `taken`.
    """
    counts: dict[str, int] = {}
    names = []
    for layer in layers:
        if layer.name:
            names.append(layer.name)
            continue
        while True:
            n = counts.get(layer.type, 0)
            counts[layer.type] = n + 1
            candidate = layer.type if n == 0 else f"{layer.type}_{n}"
            if candidate not in taken:
                break
        taken.add(candidate)
        names.append(candidate)
    return names


# Keras 1/2 argument names that Keras 3 renamed: old -> new. A rename is suggested only where the new
# name is an allowed key (so `output_dim`, still an `embedding` argument, is never reported there).
KERAS2_RENAMES = {
    "lr": "learning_rate",
    "nb_filter": "filters",
    "nb_row": "kernel_size",
    "nb_col": "kernel_size",
    "filter_length": "kernel_size",
    "subsample": "strides",
    "subsample_length": "strides",
    "border_mode": "padding",
    "dim_ordering": "data_format",
    "init": "kernel_initializer",
    "inner_init": "recurrent_initializer",
    "output_dim": "units",
    "bias": "use_bias",
    "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer",
    "U_regularizer": "recurrent_regularizer",
    "W_constraint": "kernel_constraint",
    "b_constraint": "bias_constraint",
    "dropout_W": "dropout",
    "dropout_U": "recurrent_dropout",
    "p": "rate",
    "nb_epoch": "epochs",
}

# Keras 3 aliases of a layer type that the format spells in one way only.
KERAS_TYPE_ALIASES = {
    **{f"{old}{d}d": f"{new}{d}d" for d in (1, 2, 3) for old, new in (
        ("avg_pool", "average_pooling"), ("max_pool", "max_pooling"), ("global_avg_pool", "global_average_pooling"),
        ("global_max_pool", "global_max_pooling"), ("convolution", "conv"))},
    **{f"convolution{d}d_transpose": f"conv{d}d_transpose" for d in (1, 2, 3)},
    **{f"separable_convolution{d}d": f"separable_conv{d}d" for d in (1, 2)},
}

# Keras 3 layers that the format does not offer (yet): a spec naming one is told so.
KERAS_ONLY_LAYERS = frozenset({
    "aug_mix", "auto_contrast",
    *(f"adaptive_{kind}_pooling{d}d" for kind in ("average", "max") for d in (1, 2, 3)),
    "contrast_limited_adaptive_histogram_equalization", "cut_mix",
    "equalization", "group_query_attention", "hashed_crossing",
    "mel_spectrogram", "mix_up", "rand_augment", "random_color_degeneration", "random_color_jitter",
    "random_elastic_transform", "random_erasing", "random_gaussian_blur", "random_grayscale", "random_hue",
    "random_invert", "random_perspective", "random_posterization", "random_saturation", "random_sharpness",
    "random_shear", "reversible_embedding", "solarization",
    "spectral_normalization", "stft_spectrogram",
})

# Keras's recurrent cells: in a spec, the `cell` of an `rnn` layer.
RNN_CELLS = frozenset({"simple_rnn_cell", "lstm_cell", "gru_cell"})

# Layer types that run arbitrary Python: never accepted from a spec.
CODE_LAYERS = frozenset({"lambda", "torch_module_wrapper", "jax_layer", "flax_layer", "tfsm_layer"})


def suggest_key(key: str, allowed) -> str | None:
    """The hint for an unknown key: the Keras 3 name of a Keras 2 argument, else a close match."""
    allowed = list(allowed)
    new = KERAS2_RENAMES.get(key)
    if new is not None and new in allowed and key not in allowed:
        return f"did you mean `{new}`? (`{key}` is the Keras 2 name; Keras 3 calls it `{new}`)"
    return did_you_mean(key, allowed)


def layer_type_hint(tag: str, choices) -> str | None:
    """The hint for an unknown layer type: a Keras alias, a Keras layer not in the format, code, or a close match."""
    if tag in KERAS_TYPE_ALIASES:
        return f"did you mean `{KERAS_TYPE_ALIASES[tag]}`? (netspec spells Keras's `{tag}` that way)"
    if tag in CODE_LAYERS:
        return (f"`{tag}` runs arbitrary Python code, which a spec never holds, so netspec will not support it; "
                "write the computation as a Keras layer class in a Python module (a plugin layer, once plugins "
                "land), or for now generate the script (`netspec generate`) and edit it by hand")
    if tag in RNN_CELLS:
        return (f"`{tag}` is one step of a recurrent layer, not a layer of the graph: run it with `rnn`, "
                f"`{{type: rnn, cell: {{type: {tag}, units: ...}}}}` (a list of cells stacks them)")
    if tag in KERAS_ONLY_LAYERS:
        return (f"`{tag}` is a Keras layer that netspec does not support yet; `netspec layers` lists the types "
                "it has, or generate the script (`netspec generate`) and add it by hand")
    return did_you_mean(tag, choices)
