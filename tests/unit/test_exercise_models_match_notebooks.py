"""The Keras models notebooks 03 and 04 write out, against the package's copy where one exists.

Notebook 03's exercise 3.2 stack is written in plain Keras in the notebook (its solution shows it)
and kept once in the package (`ex03.SHAPES_STACK`, `ex03.build_shapes_model`) because the check
needs it; this test fails when the two drift apart.
"""

import ast
import json
import pathlib

import keras

from cnnlib.labs import ex03

ROOT = pathlib.Path(__file__).resolve().parents[2]


def notebook_assignment(notebook, name):
    """The source of the top-level statement `name = …` in a code cell of `notebook` or in its
    solutions (notebooks/solutions/NN_name.py)."""
    path = ROOT / "notebooks" / notebook
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    sources = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    solutions = path.parent / "solutions" / f"{path.stem}.py"
    if solutions.exists():
        sources.append(solutions.read_text(encoding="utf-8"))
    for source in sources:
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets
            ):
                return ast.get_source_segment(source, node)
    raise AssertionError(f"{notebook} has no cell that assigns {name}")


def layer_configs(model):
    """Each layer's class and config, without the names Keras numbers automatically."""
    return [
        (type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"})
        for layer in model.layers
    ]


def test_the_shapes_stack_of_exercise_3_2_is_the_packages():
    scope = {"keras": keras}
    exec(notebook_assignment("03_padding_and_stride.ipynb", "shapes_model"), scope)
    notebook_model, package_model = scope["shapes_model"], ex03.build_shapes_model()
    assert notebook_model.input_shape == package_model.input_shape
    assert layer_configs(notebook_model) == layer_configs(package_model)


def test_the_comparison_sees_a_changed_layer():
    scope = {"keras": keras}
    source = notebook_assignment("03_padding_and_stride.ipynb", "shapes_model")
    exec(source.replace("Conv2D(32, 3, strides=(2, 1))", "Conv2D(32, 3, strides=(1, 2))"), scope)
    assert layer_configs(scope["shapes_model"]) != layer_configs(ex03.build_shapes_model())
