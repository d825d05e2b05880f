"""A plugin for the tests: a Keras layer registered only with `keras.saving.register_keras_serializable`,
without static rules, so netspec asks Keras for its shapes (`compute_output_shape`) and weights."""

import keras


@keras.saving.register_keras_serializable(package="netspec_keras_plugin")
class ChannelScale(keras.layers.Layer):
    """Multiplies each channel (the last axis) by a learned factor."""

    def __init__(self, initial=1.0, **kwargs):
        super().__init__(**kwargs)
        self.initial = initial

    def build(self, input_shape):
        self.factor = self.add_weight(shape=(input_shape[-1],), initializer=keras.initializers.Constant(self.initial))

    def call(self, x):
        return x * self.factor

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "initial": self.initial}
