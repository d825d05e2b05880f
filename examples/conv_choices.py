"""How a convolution's choices change shapes and parameter counts, without training anything.

Each section below builds a small spec as a Python dict, changes one choice (filter size, stride,
padding, pooling, activation, depth) and prints what `netspec.summarize` infers: the output shape of
every layer and its parameter count. netspec works these out itself, without TensorFlow, and they
equal what Keras reports for the built model (netspec's tests check that, to the digit).

Run it:  python examples/conv_choices.py          (--quick prints fewer variations)
"""

import argparse

import netspec


def spec(*layers, shape=(28, 28, 1)):
    """A spec of an image input and `layers`, as the format writes them."""
    return {"name": "choices", "inputs": [{"name": "image", "shape": list(shape)}], "layers": list(layers)}


def show(title, model):
    """One line a layer: its type, output shape and parameters, then the total."""
    summary = netspec.summarize(model)
    print(f"\n{title}")
    for layer in summary["layers"]:
        shape = tuple(layer["output_shape"][1:])
        print(f"  {layer['type']:<22} -> {str(shape):<16} {layer['params']:>8,} parameters")
    print(f"  {'total':<41} {summary['total_params']:>8,}")


def main(quick=False):
    # 1. Filter (kernel) size: a k x k filter over c input channels has k*k*c weights and a bias per filter,
    #    and 'valid' padding loses k-1 pixels along each axis.
    for k in (3,) if quick else (1, 3, 5, 7):
        show(f"kernel_size {k}: 16 filters", spec({"type": "conv2d", "filters": 16, "kernel_size": k}))

    # 2. Stride: the filter moves s pixels at a time, so the output is about 1/s the size; no new weights.
    for s in (1, 2) if quick else (1, 2, 3):
        show(f"strides {s}", spec({"type": "conv2d", "filters": 16, "kernel_size": 3, "strides": s}))

    # 3. Padding: 'same' pads the border so that (at stride 1) the output keeps the input's size.
    for padding in ("valid", "same"):
        show(f"padding {padding!r}", spec({"type": "conv2d", "filters": 16, "kernel_size": 5, "padding": padding}))

    # 4. Pooling: a 2x2 max (or average) pool halves height and width and has no parameters.
    show("conv then 2x2 max pooling", spec({"type": "conv2d", "filters": 16, "kernel_size": 3},
                                           {"type": "max_pooling2d", "pool_size": 2}))
    if not quick:
        show("global average pooling: one value per channel",
             spec({"type": "conv2d", "filters": 16, "kernel_size": 3}, {"type": "global_average_pooling2d"}))

    # 5. Activation: a function applied to each value; it changes neither the shape nor the parameter count.
    for activation in ("relu",) if quick else ("relu", "tanh", None):
        show(f"activation {activation!r}",
             spec({"type": "conv2d", "filters": 16, "kernel_size": 3, "activation": activation}))

    # 6. Depth: the classic stack (conv, pool, conv, pool, dense). Most parameters sit in the dense layer
    #    that reads the flattened maps, which is why later layers pool before they flatten.
    show("a small CNN for 28x28 digits", spec(
        {"type": "conv2d", "filters": 32, "kernel_size": 3, "activation": "relu"},
        {"type": "max_pooling2d", "pool_size": 2},
        {"type": "conv2d", "filters": 64, "kernel_size": 3, "activation": "relu"},
        {"type": "max_pooling2d", "pool_size": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ))

    # A choice that cannot work is an error before anything is built: a 5x5 filter on a 3x3 map.
    try:
        netspec.summarize(spec({"type": "conv2d", "filters": 8, "kernel_size": 5}, shape=(3, 3, 1)))
    except netspec.SpecError as error:
        print("\na 5x5 filter on a 3x3 image:", str(error).splitlines()[0])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer variations")
    main(parser.parse_args().quick)
