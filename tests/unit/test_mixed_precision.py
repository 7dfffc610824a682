"""Mixed precision, as the full profile turns it on for GPUs with tensor cores, rehearsed on a CPU:
one training step of each model the course trains under `mixed_float16`, outputs in float32,
finite loss."""

import numpy as np
import pytest

pytestmark = pytest.mark.rehearsal


@pytest.fixture
def mixed_float16():
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")
    keras.backend.clear_session()


def _builders():
    from cnnlib.data import transfer
    from cnnlib.lessons import models, transfer_models

    def vgg16_transfer():
        base, _ = transfer.load_vgg16(include_top=False, input_shape=(32, 32, 3))
        model = transfer_models.full_model(base, transfer_models.build_head(hidden_units=8))
        transfer_models.compile_binary(model, learning_rate=1e-3)
        return model, (32, 32, 3), 2

    def mnist(builder):
        def build():
            model = builder()
            models.compile_for_mnist(model)
            return model, (28, 28, 1), 10

        return build

    return {
        "lenet5_classic": mnist(models.lenet5_classic),
        "lenet_modern": mnist(models.lenet_modern),
        "mlp_baseline": mnist(models.mlp_baseline),
        "vgg16_transfer": vgg16_transfer,
    }


@pytest.mark.slow  # a training step per model (the fast loop's training: test_training_resume.py)
@pytest.mark.parametrize(
    "name", ["lenet5_classic", "lenet_modern", "mlp_baseline", "vgg16_transfer"]
)
def test_one_mixed_precision_step(name, mixed_float16, monkeypatch):
    monkeypatch.setenv("CNNLIB_OFFLINE", "1")
    model, shape, classes = _builders()[name]()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255 if classes == 2 else 1, size=(4, *shape)).astype("float32")
    y = rng.integers(0, classes if classes > 2 else 2, size=4)
    loss = model.train_on_batch(x, y)
    loss = loss[0] if isinstance(loss, (list, tuple)) else loss
    assert np.isfinite(loss), f"{name}: loss {loss} under mixed_float16"
    assert model.outputs[0].dtype == "float32", (
        f"{name}: output is {model.outputs[0].dtype}, not float32"
    )
    assert any(w.dtype == "float32" for w in model.weights), (
        "variables stay float32 under mixed precision"
    )
    assert model.layers[1].compute_dtype == "float16" or any(
        l.compute_dtype == "float16" for l in model.layers
    )
