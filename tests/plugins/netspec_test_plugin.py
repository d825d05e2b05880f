"""A plugin for the tests: a layer type declared with `@netspec.layer_type` and static shape rules.

The module imports no Keras: `ScaledDense` is a plain class written as a Keras layer (its methods import
what they use), so validating or summarizing a spec that uses it never imports TensorFlow.
"""

import netspec


def _shape(input_shape, units):
    if len(input_shape) < 1 or input_shape[-1] is None:
        raise ValueError(f"`scaled_dense` needs a known last axis; received {list(input_shape)}")
    return (*input_shape[:-1], units)


def _params(input_shape, units, use_bias):
    return input_shape[-1] * units + (units if use_bias else 0)


@netspec.layer_type(shape=_shape, params=_params)
class ScaledDense:
    """A dense layer whose output is multiplied by a fixed `scale`."""

    def __init__(self, units: int, scale: float = 1.0, use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.units, self.scale, self.use_bias = units, scale, use_bias

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros") if self.use_bias else None

    def call(self, x):
        from keras import ops

        y = ops.matmul(x, self.kernel)
        if self.bias is not None:
            y = y + self.bias
        return y * self.scale

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "scale": self.scale, "use_bias": self.use_bias}
