"""Training on several devices and several machines, and a way to rehearse both on one CPU.

Notebook 07 builds its model inside `transfer_models.distribution_strategy().scope()`: one replica on one
device, `MirroredStrategy` over several GPUs of one machine. For several machines this module is a
script to start on every machine (each with its own TF_CONFIG):

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}' cnn-course distributed OUTDIR

It trains the transfer-learning head (phase 1 of notebook 07) under `MultiWorkerMirroredStrategy`
for a few steps: every worker computes gradients on its share of each global batch and the
all-reduce keeps the weights equal everywhere. Only worker 0, the chief, writes the weights and
the results file to OUTDIR; the others write nothing, so a shared OUTDIR is never written twice.
OUTDIR must be the chief's own folder: one that belongs to another account is refused at the start.
tests/unit/test_distributed.py runs it with two workers on loopback ports of one machine.

A worker waits for the others only so long (``--timeout``, 120 s by default): when one never
joins (not started, a host name that does not resolve, a firewall), it says which ones it waited
for and exits with status 3 instead of hanging; Ctrl+C and SIGTERM end it at once with status
130 and 143 (TensorFlow's collective ops would otherwise swallow both while they wait).

Without GPUs, `split_cpu(2)` makes the CPU look like two devices, so the multi-replica code paths
(global batch, all-reduce, weights in sync) run anywhere; call it before TensorFlow starts working.
"""

import argparse
import json
import os
import pathlib
import select
import signal
import socket
import sys
import threading
import time

from cnnlib.runtime.env import tolerate_any_output_encoding
from cnnlib.tools import files

DEFAULT_TIMEOUT = 120.0
# What the command accepts: enough for any real use, small enough to fail in seconds, not hours.
MAX_TIMEOUT = 24 * 3600.0  # a day: longer is a typo, and select() overflows on huge values
MAX_STEPS = 100_000
IMAGE_SIZES = (32, 512)  # VGG16's smallest input; 512 px already needs ~GBs per batch on a CPU
EXIT_TIMEOUT, EXIT_INTERRUPT, EXIT_TERMINATED = 3, 130, 143


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


def _cluster():
    """(workers, index) from TF_CONFIG, checked; ([], 0) without one."""
    config = os.environ.get("TF_CONFIG")
    if config is None:
        return [], 0
    if not config.strip():
        raise ValueError(
            "TF_CONFIG is set but empty: unset it to train on this machine alone, or give it the "
            'cluster, e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}.'
        )
    try:
        parsed = json.loads(config)
        workers = parsed["cluster"]["worker"]
        kind = parsed["task"].get("type", "worker")
        index = int(parsed["task"]["index"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(
            f"TF_CONFIG must name the cluster's workers and this task's index, got {config!r}."
        ) from None
    others = sorted(set(parsed["cluster"]) - {"worker"})
    if kind != "worker" or others:
        raise ValueError(
            f"TF_CONFIG names a {kind if kind != 'worker' else others[0]!r} task: this trainer runs "
            "worker tasks only (worker 0 is the chief); list every machine under cluster.worker."
        )
    if not isinstance(workers, list) or not workers or not all(isinstance(w, str) for w in workers):
        raise ValueError(
            f"TF_CONFIG's cluster.worker must be a list of host:port, got {workers!r}."
        )
    if not 0 <= index < len(workers):
        raise ValueError(
            f"TF_CONFIG's task index {index} is not one of the {len(workers)} workers."
        )
    return workers, index


def task_from_tf_config():
    """(worker index, number of workers) from TF_CONFIG; (0, 1) without one."""
    workers, index = _cluster()
    return (index, len(workers)) if workers else (0, 1)


def _split_address(address):
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"TF_CONFIG's worker address {address!r} is not host:port.")
    return host.strip("[]"), int(port)


def check_own_port():
    """One sentence (ValueError) when this worker's port in TF_CONFIG is taken by another program."""
    workers, index = _cluster()
    if not workers:
        return
    _, port = _split_address(workers[index])
    with socket.socket() as probe:
        try:
            probe.bind(("", port))
        except OSError:
            raise ValueError(
                f"Port {port} of this worker ({workers[index]} in TF_CONFIG) is already in use, "
                "perhaps by an earlier run still going: stop it, or give this worker another port."
            ) from None


def peer_report(timeout=1.0):
    """What can be said about each other worker now: resolvable? answering on its port?"""
    workers, index = _cluster()
    lines = []
    for number, address in enumerate(workers):
        if number == index:
            continue
        host, port = _split_address(address)
        try:
            socket.getaddrinfo(host, port)
        except OSError:
            lines.append(f"worker {number} ({address}): the host name does not resolve")
            continue
        try:
            with socket.create_connection((host, port), timeout=timeout):
                state = "answers on its port"
        except OSError:
            state = "does not answer on its port (not started yet, or a firewall)"
        lines.append(f"worker {number} ({address}): {state}")
    return lines


CHILD_VARIABLE = "CNNLIB_DISTRIBUTED_WORKER"  # set in the training process the launcher watches
JOINED = "all workers joined"  # the line the training process prints once the workers are in


class _Stopped(Exception):
    def __init__(self, name, code):
        super().__init__(name)
        self.name, self.code = name, code


def _stop_on(number, name, code):
    def handler(signum, frame):
        raise _Stopped(name, code)

    signal.signal(number, handler)


def supervise(argv, timeout):
    """Run the training in a child process and watch it from this one, which never imports
    TensorFlow: TensorFlow waits for the other workers in C++ code that holds Python's lock and
    ignores Ctrl+C and SIGTERM, so only another process can give up on time, or stop it at once.

    Returns the exit status: the child's; 3 when the workers did not all join within `timeout`
    seconds; 130 on Ctrl+C, 143 on SIGTERM.
    """
    import subprocess

    child = subprocess.Popen(
        [sys.executable, "-m", "cnnlib.tools.distributed", *argv],
        env={**os.environ, CHILD_VARIABLE: "1"},
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    deadline, joined = time.monotonic() + timeout, False
    _stop_on(signal.SIGINT, "Ctrl+C", EXIT_INTERRUPT)
    _stop_on(signal.SIGTERM, "SIGTERM", EXIT_TERMINATED)
    try:
        while True:
            left = None if joined else deadline - time.monotonic()
            if left is not None and left <= 0:
                child.kill()
                child.wait()
                details = "; ".join(peer_report()) or "no other worker is listed"
                print(
                    f"Gave up after {timeout:g} s: not every worker of TF_CONFIG joined ({details}). "
                    "Start every worker (each with its own task index), or raise --timeout.",
                    file=sys.stderr,
                    flush=True,
                )
                return EXIT_TIMEOUT
            ready, _, _ = select.select([child.stdout], [], [], left)
            if not ready:
                continue
            line = child.stdout.readline()
            if not line:
                return child.wait()
            if line.strip() == JOINED:
                joined = True
                continue
            print(line, end="", flush=True)
    except _Stopped as stop:
        child.kill()
        child.wait()
        print(f"Stopped by {stop.name}; nothing was written.", file=sys.stderr, flush=True)
        return stop.code


def train_head(out_dir, steps=3, image_size=32, per_replica_batch=4, joined=None):
    """Phase 1 of notebook 07 under MultiWorkerMirroredStrategy; returns what the chief recorded.

    `joined` (a threading.Event) is set once the first step, which needs every worker, is done.
    """
    import keras
    import tensorflow as tf

    from cnnlib.data import transfer
    from cnnlib.lessons import transfer_models

    index, workers = task_from_tf_config()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    batch = transfer_models.global_batch_size(per_replica_batch, strategy)
    print(
        f"worker {index} of {workers}: {strategy.num_replicas_in_sync} replicas in sync, global batch {batch}",
        flush=True,
    )
    # Every worker must see the same data; the stand-in digits need no download anywhere.
    # The training data repeat, so a long run needs no more than the stand-in holds.
    images_per_class = min(transfer.STAND_IN_PER_CLASS, max(1, batch * steps // 2))
    data = transfer.stand_in_files(images_per_class)
    train = transfer_models.pipeline(*data.train, image_size, batch, training=True)
    with strategy.scope():
        base, source = transfer.load_vgg16(
            include_top=False, input_shape=(image_size, image_size, 3)
        )
        base.trainable = False  # phase 1: only the new head trains
        head = transfer_models.build_head(base.outputs[0].shape[-1], hidden_units=16)
        model = transfer_models.full_model(base, head)
        optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    # Keras 3's model.fit does not run under MultiWorkerMirroredStrategy (keras-team/keras#20585),
    # so the workers train with the loop fit would run: each replica computes the loss of its
    # share of the global batch, the optimizer's all-reduce sums the gradients of all replicas.
    batches = iter(strategy.experimental_distribute_dataset(train.repeat()))

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
    losses = []
    for _ in range(steps):
        losses.append(float(train_step(*next(batches))))
        if joined is not None:
            joined.set()
    seconds = time.perf_counter() - start
    is_chief = index == 0
    if not is_chief:
        return None  # only the chief writes: the weights are the same on every worker
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    temporary = out_dir / f".head-{os.getpid()}.weights.h5"  # Keras wants the .weights.h5 ending
    try:
        model.save_weights(str(temporary))
        os.replace(temporary, out_dir / "head.weights.h5")
    finally:
        temporary.unlink(missing_ok=True)
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
    # Through a temporary file and a rename: a link planted at the name is replaced, not followed.
    _write_replacing(out_dir / "multiworker_result.json", json.dumps(result, indent=2) + "\n")
    keras.backend.clear_session()
    return result


def _write_replacing(path, text):
    files.replace_file(path, text)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="cnn-course distributed", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "out_dir", type=pathlib.Path, help="where the chief writes weights and results"
    )
    parser.add_argument("--steps", type=int, default=3, help="training steps (at least 1)")
    parser.add_argument("--image-size", type=int, default=32, help="image side in pixels (≥ 32)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for every worker to join (default {DEFAULT_TIMEOUT:g})",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.steps <= MAX_STEPS:
        parser.error(f"--steps must be between 1 and {MAX_STEPS:,}, got {args.steps}")
    low, high = IMAGE_SIZES
    if not low <= args.image_size <= high:
        parser.error(
            f"--image-size must be between {low} (VGG16's smallest input) and {high} pixels, "
            f"got {args.image_size}"
        )
    if not 0 < args.timeout <= MAX_TIMEOUT:  # also refuses nan and inf
        parser.error(
            f"--timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:g} (a day), "
            f"got {args.timeout:g}"
        )
    tolerate_any_output_encoding()
    try:
        workers, index = _cluster()
        check_own_port()
        if index == 0:  # the chief writes: find out now, not after the training
            args.out_dir.mkdir(parents=True, exist_ok=True)
            # Its owner could plant a link at the weights' temporary name, which h5py follows.
            files.check_own_folder(args.out_dir, "the weights and results")
    except (ValueError, files.UnsafePlace) as error:
        print(error, file=sys.stderr)
        return 2
    except OSError as error:
        print(f"Cannot write to {args.out_dir} ({error.strerror}).", file=sys.stderr)
        return 2
    if len(workers) > 1 and not os.environ.get(CHILD_VARIABLE):
        others = ", ".join(w for n, w in enumerate(workers) if n != index)
        print(
            f"worker {index} of {len(workers)}: waiting up to {args.timeout:g} s for {others}",
            flush=True,
        )
    if len(workers) > 1 and not os.environ.get(CHILD_VARIABLE):
        return supervise(sys.argv[1:] if argv is None else list(argv), args.timeout)
    joined = threading.Event()
    threading.Thread(target=lambda: joined.wait() or print(JOINED, flush=True), daemon=True).start()
    result = train_head(args.out_dir, steps=args.steps, image_size=args.image_size, joined=joined)
    if result is not None:
        print(
            f"chief wrote {args.out_dir / 'multiworker_result.json'}: {result['replicas_in_sync']} replicas, "
            f"loss {result['loss'][-1]:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
