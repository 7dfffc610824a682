"""Training on several devices and several machines, and a way to rehearse both on one CPU.

Notebook 07 builds its model inside `transfer.distribution_strategy().scope()`: one replica on one
device, `MirroredStrategy` over several GPUs of one machine. For several machines this module is a
script to start on every machine (each with its own TF_CONFIG):

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}' python -m cnnlib.tools.distributed OUTDIR

It trains the transfer-learning head (phase 1 of notebook 07) under `MultiWorkerMirroredStrategy`
for a few steps: every worker computes gradients on its share of each global batch and the
all-reduce keeps the weights equal everywhere. Only worker 0, the chief, writes the weights and
the results file to OUTDIR; the others write nothing, so a shared OUTDIR is never written twice.
tests/unit/test_distributed.py runs it with two workers on loopback ports of one machine.

Without GPUs, `split_cpu(2)` makes the CPU look like two devices, so the multi-replica code paths
(global batch, all-reduce, weights in sync) run anywhere; call it before TensorFlow starts working.
"""

import argparse
import json
import os
import pathlib
import sys
import time


def split_cpu(replicas):
    """Make TensorFlow show `replicas` logical CPU devices (before any other TensorFlow work)."""
    import tensorflow as tf

    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 1:
        raise ValueError(f"replicas must be a positive int, got {replicas!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * replicas
        )
    except RuntimeError as error:
        raise RuntimeError(
            "split_cpu must run before TensorFlow initialises its devices (first thing in the process)"
        ) from error
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def task_from_tf_config():
    """(worker index, number of workers) from TF_CONFIG; (0, 1) without one."""
    config = os.environ.get("TF_CONFIG")
    if not config:
        return 0, 1
    try:
        parsed = json.loads(config)
        workers = parsed["cluster"]["worker"]
        index = int(parsed["task"]["index"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"TF_CONFIG must name the cluster's workers and this task's index, got {config!r}"
        ) from error
    if not 0 <= index < len(workers):
        raise ValueError(f"TF_CONFIG's task index {index} is not one of the {len(workers)} workers")
    return index, len(workers)


def train_head(out_dir, steps=3, image_size=32, per_replica_batch=4):
    """Phase 1 of notebook 07 under MultiWorkerMirroredStrategy; returns what the chief recorded."""
    import keras
    import tensorflow as tf

    from cnnlib.data import transfer

    index, workers = task_from_tf_config()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    batch = transfer.global_batch_size(per_replica_batch, strategy)
    print(
        f"worker {index} of {workers}: {strategy.num_replicas_in_sync} replicas in sync, global batch {batch}",
        flush=True,
    )
    # Every worker must see the same data; the stand-in digits need no download anywhere.
    images_per_class = max(1, batch * steps // 2)
    data = transfer.stand_in_digits(image_size, batch, images_per_class=images_per_class)
    with strategy.scope():
        base, source = transfer.load_vgg16(
            include_top=False, input_shape=(image_size, image_size, 3)
        )
        transfer.freeze_base(base)
        model = transfer.transfer_model(base, hidden_units=16)
        optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    # Keras 3's model.fit does not run under MultiWorkerMirroredStrategy (keras-team/keras#20585),
    # so the workers train with the loop fit would run: each replica computes the loss of its
    # share of the global batch, the optimizer's all-reduce sums the gradients of all replicas.
    batches = iter(strategy.experimental_distribute_dataset(data.train.repeat()))

    @tf.function
    def train_step(images, labels):
        def replica_step(images, labels):
            with tf.GradientTape() as tape:
                probabilities = model(images, training=True)
                per_image = keras.losses.binary_crossentropy(
                    tf.cast(labels, "float32")[:, None], probabilities
                )
                loss = tf.nn.compute_average_loss(per_image, global_batch_size=batch)
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            return loss

        per_replica = strategy.run(replica_step, args=(images, labels))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    start = time.perf_counter()
    losses = [float(train_step(*next(batches))) for _ in range(steps)]
    seconds = time.perf_counter() - start
    is_chief = index == 0
    if not is_chief:
        return None  # only the chief writes: the weights are the same on every worker
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(out_dir / "head.weights.h5"))
    result = {
        "workers": workers,
        "replicas_in_sync": strategy.num_replicas_in_sync,
        "global_batch": batch,
        "steps": steps,
        "loss": losses,
        "seconds": round(seconds, 2),
        "weights_source": source,
        "data_source": data.source,
        "recorded": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (out_dir / "multiworker_result.json").write_text(json.dumps(result, indent=2) + "\n")
    keras.backend.clear_session()
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m cnnlib.tools.distributed", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "out_dir", type=pathlib.Path, help="where the chief writes weights and results"
    )
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args(argv)
    result = train_head(args.out_dir, steps=args.steps, image_size=args.image_size)
    if result is not None:
        print(
            f"chief wrote {args.out_dir / 'multiworker_result.json'}: {result['replicas_in_sync']} replicas, "
            f"loss {result['loss'][-1]:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
