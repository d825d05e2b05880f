"""How a recurrent layer's choices change shapes and parameter counts, without training anything.

Sequences enter as (timesteps, features). Each section below changes one choice (cell type, units,
sequence length, `return_sequences`, stacking, bidirectional) and prints what `netspec.summarize`
infers for every layer: output shape and parameters, equal to what Keras reports for the built model.

Run it:  python examples/rnn_choices.py          (--quick prints fewer variations)
"""

import argparse

import netspec


def spec(*layers, steps=20, features=8):
    """A spec of a sequence input (`steps` x `features`; steps None = any length) and `layers`."""
    return {"name": "choices", "inputs": [{"name": "sequence", "shape": [steps, features]}], "layers": list(layers)}


def show(title, model):
    summary = netspec.summarize(model)
    print(f"\n{title}")
    for layer in summary["layers"]:
        shape = tuple(layer["output_shape"][1:])
        print(f"  {layer['type']:<14} -> {str(shape):<14} {layer['params']:>8,} parameters")
    print(f"  {'total':<31} {summary['total_params']:>8,}")


def main(quick=False):
    # 1. Cell type: a simple RNN has one set of weights (input, recurrent, bias); a GRU three (update gate,
    #    reset gate, candidate) and an LSTM four (input, forget, output gates and the cell candidate).
    #    Each set holds units x (features + units + 1) values (a GRU adds a second bias by default).
    for cell in ("lstm",) if quick else ("simple_rnn", "gru", "lstm"):
        show(f"{cell}, 32 units", spec({"type": cell, "units": 32}))

    # 2. Units: parameters grow with units x (features + units): doubling 32 units multiplies them by 3.6.
    if not quick:
        for units in (16, 64):
            show(f"lstm, {units} units", spec({"type": "lstm", "units": units}))

    # 3. Sequence length: the same weights run at every step, so the length changes no parameter count,
    #    and `null` (any length) works as well.
    for steps in (20, None) if quick else (5, 100, None):
        show(f"lstm over {steps or 'any number of'} steps", spec({"type": "lstm", "units": 32}, steps=steps))

    # 4. return_sequences: the last step's output (units,), or every step's (steps, units) for a next layer
    #    that reads sequences.
    show("return_sequences: true", spec({"type": "lstm", "units": 32, "return_sequences": True}))

    # 5. Stacking: every layer but the last returns sequences; a Dense head reads the last step.
    show("two stacked LSTMs and a softmax head", spec(
        {"type": "lstm", "units": 32, "return_sequences": True},
        {"type": "lstm", "units": 16},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ))

    # 6. Bidirectional: a second copy reads the sequence backwards; outputs are concatenated by default.
    if not quick:
        show("bidirectional lstm", spec({"type": "bidirectional", "layer": {"type": "lstm", "units": 32}}))

    # Reading a flat vector is a mistake netspec catches before anything is built.
    try:
        netspec.summarize(spec({"type": "flatten"}, {"type": "lstm", "units": 8}))
    except netspec.SpecError as error:
        print("\nan lstm after flatten:", str(error).splitlines()[0])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer variations")
    main(parser.parse_args().quick)
