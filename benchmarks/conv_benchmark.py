"""How much faster is the vectorised NumPy convolution than the loop, and how close to TensorFlow?

Run from the repository root:

    python benchmarks/conv_benchmark.py            # best of 20 (the loop: best of 2 and 1)
    python benchmarks/conv_benchmark.py --repeats 50

Two cases, each on the same float32 input for all three implementations:
  (a) a 512×512 grayscale image with one 3×3 kernel;
  (b) a 224×224×3 image with 16 filters of 3×3×3.
It prints the best time of each implementation and the ratios loop / vectorised and
vectorised / TensorFlow, and writes them to results/benchmark/conv_benchmark.json, from which
`cnn-course report` builds the benchmark table of docs/results.md. Targets: the vectorised NumPy
version at least 50× faster than the loop, and no slower than tf.nn.conv2d (ratio ≤ 1.0×) on
both cases. Timings on a shared or busy machine are noisy: the implementations take turns and
the best of several repeats is kept, the ratio is what matters, and the JSON records the
machine, the date and the load average so that a figure can be judged.
"""

import argparse
import json
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from cnnlib import ops  # noqa: E402
from cnnlib.tools import report


def best_times(functions, repeats):
    """Fastest of `repeats` calls of each function, in seconds.

    The functions take turns (A, B, A, B, ...) so that a burst of other work on the machine
    slows them alike instead of spoiling one of them; the minimum is the least disturbed run.
    """
    best = [float("inf")] * len(functions)
    for _ in range(repeats):
        for index, function in enumerate(functions):
            start = time.perf_counter()
            function()
            best[index] = min(best[index], time.perf_counter() - start)
    return best


def tf_conv(image, kernels):
    """tf.nn.conv2d on one image; `.numpy()` waits for the result, so the time is honest."""
    batch = tf.constant(image[None])
    weights = tf.constant(kernels)
    return lambda: tf.nn.conv2d(batch, weights, strides=1, padding="VALID").numpy()


def matmul_alone(image, kernels):
    """The one matrix multiply inside conv2d, on ready-made operands of the same shapes: how
    much of conv2d's time is the arithmetic itself (NumPy's BLAS) and how much building the
    patch matrix around it."""
    kh, kw, channels, n_filters = kernels.shape
    positions = (image.shape[0] - kh + 1) * (image.shape[1] - kw + 1)
    rng = np.random.default_rng(1)
    weights = rng.random((n_filters, kh * kw * channels), dtype=np.float32)
    patches = rng.random((kh * kw * channels, positions), dtype=np.float32)
    return lambda: weights @ patches


def run_case(name, image, kernels, repeats, loop_repeats):
    expected = tf_conv(image, kernels)()[0]
    # All three must agree before their times mean anything.
    np.testing.assert_allclose(ops.conv2d(image, kernels), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ops.conv2d_loop(image, kernels), expected, rtol=1e-4, atol=1e-4)

    tf_conv(image, kernels)()  # warm-up: TensorFlow picks its kernels on the first call
    (loop,) = best_times([lambda: ops.conv2d_loop(image, kernels)], loop_repeats)
    vectorised, tensorflow, matmul = best_times(
        [lambda: ops.conv2d(image, kernels), tf_conv(image, kernels), matmul_alone(image, kernels)],
        repeats,
    )
    print(f"\n{name}")
    print(f"  naive loop (conv2d_loop)   {loop * 1e3:10.1f} ms   (best of {loop_repeats})")
    print(f"  vectorised NumPy (conv2d)  {vectorised * 1e3:10.2f} ms   (best of {repeats})")
    print(f"  tf.nn.conv2d               {tensorflow * 1e3:10.2f} ms   (best of {repeats})")
    print(f"  conv2d's matmul alone      {matmul * 1e3:10.2f} ms   (best of {repeats})")
    print(f"  loop / vectorised          {loop / vectorised:10.0f} ×")
    print(f"  vectorised / TensorFlow    {vectorised / tensorflow:10.2f} ×")
    print(f"  matmul alone / TensorFlow  {matmul / tensorflow:10.2f} ×")
    return loop, vectorised, tensorflow, matmul


def numpy_blas():
    """Which BLAS does NumPy's matmul, and which of its kernels it picked for this processor:
    the matmul is most of conv2d's time, so this explains most of a difference between machines."""
    from threadpoolctl import threadpool_info  # installed with scikit-learn

    for pool in threadpool_info():
        if pool["user_api"] == "blas":
            kernels = f" with {pool['architecture']} kernels" if pool.get("architecture") else ""
            return (
                f"{pool['internal_api']} {pool['version']}{kernels}, {pool['num_threads']} threads"
            )
    return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=20, help="repeats for the fast implementations"
    )
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    machine = report.machine()
    blas = numpy_blas()
    print(f"NumPy {np.__version__} ({blas}), TensorFlow {tf.__version__}, {machine}, float32")
    gray = rng.random((512, 512), dtype=np.float32)
    edge = rng.standard_normal((3, 3)).astype(np.float32)
    rgb = rng.random((224, 224, 3), dtype=np.float32)
    filters = rng.standard_normal((3, 3, 3, 16)).astype(np.float32)
    cases = [
        ("512×512 grey, one 3×3 kernel", gray[..., None], edge[:, :, None, None], 2),
        ("224×224×3, 16 filters of 3×3×3", rgb, filters, 1),
    ]
    rows = []
    for label, (name, image, kernels, loop_repeats) in zip("ab", cases):
        loop, vectorised, tensorflow, matmul = run_case(
            f"({label}) {name}", image, kernels, args.repeats, loop_repeats
        )
        rows.append(
            {
                "case": name,
                "loop_ms": round(loop * 1e3, 1),
                "vectorised_ms": round(vectorised * 1e3, 2),
                "tensorflow_ms": round(tensorflow * 1e3, 2),
                "loop_over_vectorised": round(loop / vectorised),
                "vectorised_over_tensorflow": round(vectorised / tensorflow, 2),
                "matmul_alone_ms": round(matmul * 1e3, 2),
                "matmul_alone_over_tensorflow": round(matmul / tensorflow, 2),
            }
        )
    out = (
        pathlib.Path(__file__).resolve().parents[1]
        / "results"
        / "benchmark"
        / "conv_benchmark.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    out.write_text(
        json.dumps(
            {
                "machine": machine,
                "numpy": np.__version__,
                "numpy_blas": blas,
                "tensorflow": tf.__version__,
                "load_average_1_5_15_min": load,
                "recorded": time.strftime("%Y-%m-%d %H:%M:%S"),
                "cases": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nWritten to {out}")


if __name__ == "__main__":
    main()
