"""Run profiles: how much work a notebook does.

- ``ci``: a smoke run for CI and quick checks: small subsets, one or two epochs, small images.
- ``lite``: a meaningful run on a laptop CPU in minutes.
- ``full``: the real course on a GPU: full datasets, full image sizes, real epochs.

The profile is chosen automatically (``CI`` set → ci; no GPU → lite; GPU → full) and the
environment variable ``CNNLIB_PROFILE`` overrides the choice.
"""

import dataclasses
import os

from cnnlib.runtime.env import flag

PROFILE_VARIABLE = "CNNLIB_PROFILE"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Plain knobs a notebook reads; `None` for a subset size means "all of it"."""

    name: str
    # Notebook 05: LeNet-5 on MNIST.
    mnist_train_size: int | None
    mnist_test_size: int | None
    lenet_epochs: int
    mlp_epochs: int
    batch_size: int
    checkpoints: bool
    # Epochs for every model when only the offline subset of 4,000 training digits is at hand.
    offline_epochs: int
    # Notebook 07: VGG16 and transfer learning.
    vgg_image_size: int
    transfer_images_per_class: int | None
    head_epochs: int
    finetune_epochs: int
    transfer_batch_size: int  # per replica; MirroredStrategy multiplies it by the GPU count


PROFILES = {
    "ci": Settings(
        name="ci",
        mnist_train_size=4000,
        mnist_test_size=1000,
        lenet_epochs=3,
        mlp_epochs=3,
        batch_size=64,
        checkpoints=False,
        offline_epochs=2,  # a smoke run: 2 epochs show a curve and already pass ci's 90 %
        vgg_image_size=64,
        transfer_images_per_class=40,
        head_epochs=1,
        finetune_epochs=1,
        transfer_batch_size=16,
    ),
    "lite": Settings(
        name="lite",
        mnist_train_size=None,
        mnist_test_size=None,
        # 3 epochs over 54,000 digits for the 98.5 % target of the modern LeNet; 10 over the 3,600
        # offline digits for its 97 % (more epochs gain nothing there: it plateaus near 98 %).
        lenet_epochs=3,
        mlp_epochs=3,
        batch_size=64,
        checkpoints=True,
        offline_epochs=10,
        vgg_image_size=128,
        transfer_images_per_class=300,
        head_epochs=3,
        finetune_epochs=2,
        transfer_batch_size=32,
    ),
    "full": Settings(
        name="full",
        mnist_train_size=None,
        mnist_test_size=None,
        lenet_epochs=20,
        mlp_epochs=20,
        batch_size=128,
        checkpoints=True,
        offline_epochs=30,
        vgg_image_size=224,
        transfer_images_per_class=None,
        head_epochs=10,
        finetune_epochs=10,
        transfer_batch_size=32,
    ),
}


def _ci_is_set():
    """CI on (see `cnnlib.runtime.env`); a CI service's own word, such as CI=woodpecker, counts as on."""
    try:
        return flag("CI")
    except ValueError:
        return True


def choose_profile(has_gpu):
    """Return (profile name, reason): the override, else CI → ci, no GPU → lite, GPU → full."""
    override = os.environ.get(PROFILE_VARIABLE, "").strip().lower()
    if override:
        if override not in PROFILES:
            raise ValueError(
                f"{PROFILE_VARIABLE}={override!r} is not a run profile; "
                f"expected one of {', '.join(PROFILES)}."
            )
        return override, f"set by {PROFILE_VARIABLE}"
    if _ci_is_set():
        return "ci", "CI is set"
    if has_gpu:
        return "full", "a GPU is present"
    return "lite", "no GPU found"
