"""Notebook 07 counts ResNet-152's parameters from its blocks instead of building Keras's model
(seconds per build): the count must be Keras's own, for every bottleneck ResNet Keras ships."""

import json
import pathlib

import pytest

keras = pytest.importorskip("keras")

NOTEBOOK = (
    pathlib.Path(__file__).resolve().parents[2] / "notebooks" / "07_vgg16_transfer_learning.ipynb"
)


def _resnet_parameters():
    """The notebook's own `resnet_parameters`, taken from its cell (no copy to drift apart)."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    source = next(
        "".join(c["source"])
        for c in cells
        if c["cell_type"] == "code" and "def resnet_parameters" in "".join(c["source"])
    )
    definition = source[: source.index("\n\n\nresnet152_params")]
    namespace = {}
    exec(definition, namespace)
    return namespace["resnet_parameters"]


@pytest.mark.parametrize(
    "name, stages",
    [
        ("ResNet50", [3, 4, 6, 3]),  # the fast loop's Keras-applications build
        pytest.param("ResNet101", [3, 4, 23, 3], marks=pytest.mark.slow),
        pytest.param("ResNet152", [3, 8, 36, 3], marks=pytest.mark.slow),
    ],
)
def test_resnet_parameters_match_keras(name, stages):
    count, layers = _resnet_parameters()(stages)
    model = getattr(keras.applications, name)(weights=None)
    assert count == model.count_params()
    assert layers == int(name.removeprefix("ResNet"))
    # Layers with weights on the main path: every convolution but the projection shortcuts, and the dense top.
    convs = [
        l
        for l in model.layers
        if isinstance(l, keras.layers.Conv2D) and not l.name.endswith("_0_conv")
    ]
    assert len(convs) + 1 == layers


def test_resnet_parameters_counts_classes():
    resnet_parameters = _resnet_parameters()
    with_1000, _ = resnet_parameters([3, 4, 6, 3])
    with_10, _ = resnet_parameters([3, 4, 6, 3], classes=10)
    assert with_1000 - with_10 == 2048 * 990 + 990
