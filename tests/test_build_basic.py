from conftest import SPECS
from keras_compare import assert_matches_keras


def test_mnist_convnet_matches_keras():
    assert_matches_keras(SPECS / "mnist_convnet.yaml")
