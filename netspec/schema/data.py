"""`data:`: where the runner reads training data from."""

from typing import Literal

from pydantic import Field

from netspec.layers.base import PositiveInt, SpecModel

BUILTIN_DATASETS = ("digits", "digits_sequence")


class Data(SpecModel):
    """A training data source. Written as a mapping, or as a bare string that is its `source`."""

    source: str = Field(
        description="`builtin:digits` (8x8x1 images in [0, 1]), `builtin:digits_sequence` (8 steps of 8 features), "
        "`synthetic` (random data shaped like the inputs), `keras:mnist` (downloads; uint8 images scaled to [0, 1]), "
        "or a path, relative to the spec file: a .npz/.npy file, a .csv file, or a folder of class subfolders "
        "(images, read as floats in [0, 255] like keras.utils.image_dataset_from_directory, or .txt files).")
    format: Literal["auto", "npz", "npy", "csv", "image_folder", "text_folder"] = Field(
        "auto", description="How to read `source`; `auto` decides by its suffix or contents.")
    x: str | list[str] | None = Field(
        None, description="Feature key(s) of an .npz file or column(s) of a CSV; default `x` / every column but `y`.")
    y: str | None = Field(None, description="Label key of an .npz file or label column of a CSV; default `y` / the last column.")
    validation: str | None = Field(None, description="A separate validation source, read like `source`.")
    test: str | None = Field(
        None, description="A separate test source, read like `source`; default: `test_split` of `source` "
        "(or the test set a `keras:` data set ships with).")
    validation_split: float | None = Field(
        None, ge=0, lt=1, description="Fraction of training data for validation; default `training.validation_split`.")
    test_split: float = Field(0.2, ge=0, lt=1, description="Fraction held out for the final test evaluation.")
    shuffle: bool = Field(True, description="Shuffle training data each epoch.")
    cache: bool = Field(True, description="Cache the evaluation batches in memory (tf.data).")
    image_size: list[PositiveInt] | None = Field(None, description="[height, width] images are resized to (image folders).")
    samples: PositiveInt = Field(256, description="Number of samples of `synthetic` data.")
    num_classes: PositiveInt | None = Field(None, description="Number of classes of `synthetic` labels; default the output size.")
