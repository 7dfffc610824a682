"""Several devices and several machines, rehearsed on one CPU (issue: rehearse the GPU paths).

Both run in fresh processes: splitting the CPU into logical devices, and TF_CONFIG, must be in
place before TensorFlow starts, which in the test process it already has.
"""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from cnnlib.tools import distributed

ROOT = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.rehearsal

TWO_REPLICAS = textwrap.dedent("""
    import numpy as np
    from cnnlib.data import transfer
    from cnnlib.lessons import transfer_models
    from cnnlib.tools import distributed

    devices = distributed.split_cpu(2)
    strategy = transfer_models.distribution_strategy()
    assert strategy.num_replicas_in_sync == 2, (devices, strategy)
    batch = transfer_models.global_batch_size(4, strategy)
    assert batch == 8, batch
    data = transfer.stand_in_files(images_per_class=16)
    train = transfer_models.pipeline(*data.train, 32, batch, training=True)
    with strategy.scope():
        base, source = transfer.load_vgg16(include_top=False, input_shape=(32, 32, 3))
        model = transfer_models.full_model(base, transfer_models.build_head(hidden_units=16))
        base.trainable = False
        transfer_models.compile_binary(model, learning_rate=1e-3)
    model.fit(train, epochs=1, steps_per_epoch=2, verbose=0)               # phase 1
    with strategy.scope():
        transfer_models.unfreeze_last_block(base)
        transfer_models.compile_binary(model, learning_rate=1e-5)
    model.fit(train, epochs=1, steps_per_epoch=2, verbose=0)               # phase 2
    trained = model.trainable_variables
    assert any("block5" in v.path for v in trained), [v.path for v in trained]
    # A Keras variable made under MirroredStrategy wraps one TensorFlow variable per replica.
    copies = {v.path: [c.numpy() for c in v.value.values] for v in trained}
    assert all(len(c) == 2 for c in copies.values()), {k: len(c) for k, c in copies.items()}
    out_of_sync = [p for p, c in copies.items() if not np.array_equal(c[0], c[1])]
    assert not out_of_sync, out_of_sync
    print("REPLICAS", strategy.num_replicas_in_sync, "VARIABLES", len(trained))
""")


def _environment(**extra):
    return {**os.environ, "CNNLIB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


@pytest.mark.slow  # two replicas train both phases (tens of seconds)
def test_two_replicas_train_both_phases_in_sync():
    finished = subprocess.run(
        [sys.executable, "-c", TWO_REPLICAS],
        capture_output=True,
        text=True,
        env=_environment(),
        cwd=ROOT,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "REPLICAS 2" in finished.stdout


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow  # two worker processes each import TensorFlow and train
def test_two_workers_train_and_only_the_chief_writes(tmp_path):
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    out = tmp_path / "out"
    processes = []
    for index in range(2):
        config = json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        )
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "cnnlib.tools.distributed", str(out), "--steps", "2"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                env=_environment(TF_CONFIG=config),
            )
        )
    results = [p.communicate(timeout=600) for p in processes]
    for process, (stdout, stderr) in zip(processes, results):
        assert process.returncode == 0, stderr[-3000:]
        assert "2 replicas in sync, global batch 8" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["head.weights.h5", "multiworker_result.json"]
    recorded = json.loads((out / "multiworker_result.json").read_text())
    assert recorded["workers"] == 2 and recorded["replicas_in_sync"] == 2
    assert all(loss == loss for loss in recorded["loss"]), "the loss is NaN"


def _start_worker(tmp_path, config, *options):
    return subprocess.Popen(
        [sys.executable, "-m", "cnnlib.tools.distributed", str(tmp_path / "out"), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_environment(TF_CONFIG=config),
    )


def _finish(worker, timeout=60):
    """(stdout, stderr) of a worker that should end on its own; killed, and the test failed, if not."""
    try:
        return worker.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.communicate()
        pytest.fail(f"the worker did not end within {timeout} s")


def _two_workers(index=0):
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


@pytest.mark.slow  # a worker process imports TensorFlow and waits 12 s for the other
@pytest.mark.parametrize(
    "peer, state",
    [("not started", "does not answer on its port"), ("unresolvable", "does not resolve")],
)
def test_a_worker_that_never_joins_ends_the_wait_with_one_sentence(tmp_path, peer, state):
    config = json.loads(_two_workers())
    if peer == "unresolvable":
        config["cluster"]["worker"][1] = "no-such-host.invalid:12345"
    missing = config["cluster"]["worker"][1]
    # 12 s: past TensorFlow's import, into its wait for the other worker (which holds the GIL).
    worker = _start_worker(tmp_path, json.dumps(config), "--timeout", "12")
    try:
        stdout, stderr = worker.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        worker.kill()
        pytest.fail("the worker still waits for a worker that never joins")
    assert worker.returncode == 3, stderr[-2000:]
    assert f"waiting up to 12 s for {missing}" in stdout
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("Gave up after 12 s") and f"worker 1 ({missing}): " in last
    assert state in last


@pytest.mark.slow  # a worker process imports TensorFlow, waits, and is stopped
def test_sigterm_ends_a_waiting_worker(tmp_path):
    config = json.loads(_two_workers())
    config["cluster"]["worker"][1] = "no-such-host.invalid:12345"
    worker = _start_worker(tmp_path, json.dumps(config), "--timeout", "300")
    assert "waiting up to 300 s" in worker.stdout.readline()
    time.sleep(15)  # TensorFlow imported and waiting for the other worker, deaf to SIGTERM
    worker.send_signal(signal.SIGTERM)
    try:
        _, stderr = worker.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        pytest.fail("SIGTERM did not end the waiting worker")
    assert worker.returncode == 143 and "Stopped by SIGTERM" in stderr


@pytest.mark.parametrize(
    "config, words",
    [
        ("", "TF_CONFIG is set but empty"),
        ("{}", "TF_CONFIG must name the cluster's workers"),
        (
            '{"cluster": {"chief": ["localhost:1"], "worker": ["localhost:2"]},'
            ' "task": {"type": "chief", "index": 0}}',
            "names a 'chief' task",
        ),
        (
            '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}',
            "task index 3 is not one of the 1 workers",
        ),
    ],
)
def test_a_wrong_tf_config_is_one_sentence(tmp_path, config, words):
    worker = _start_worker(tmp_path, config)
    _, stderr = _finish(worker)
    assert worker.returncode == 2 and "Traceback" not in stderr
    assert words in stderr and len(stderr.strip().splitlines()) == 1, stderr


def test_a_busy_own_port_is_one_sentence(tmp_path):
    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = json.dumps(
            {"cluster": {"worker": [f"localhost:{port}"]}, "task": {"type": "worker", "index": 0}}
        )
        worker = _start_worker(tmp_path, config)
        _, stderr = _finish(worker)
    assert worker.returncode == 2 and f"Port {port} of this worker" in stderr, stderr[-2000:]


@pytest.mark.parametrize(
    "option",
    [
        ["--steps", "0"],
        ["--steps", str(10**20)],
        ["--timeout", "0"],
        ["--timeout", "inf"],
        ["--timeout", "nan"],
        ["--timeout", "1e300"],
        ["--image-size", "8"],
        ["--image-size", "100000"],
    ],
)
def test_bad_options_are_refused_before_anything_runs(tmp_path, option, capsys, monkeypatch):
    monkeypatch.setattr(distributed, "train_head", lambda *a, **k: pytest.fail("it trained"))
    monkeypatch.setattr(distributed, "supervise", lambda *a, **k: pytest.fail("it started"))
    with pytest.raises(SystemExit) as stop:
        distributed.main([str(tmp_path / "out"), *option])
    stderr = capsys.readouterr().err
    assert stop.value.code == 2 and option[0] in stderr and "Traceback" not in stderr
    error_lines = [line for line in stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1, stderr  # argparse's usage, then one sentence
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.getuid() != 0, reason="giving a folder to another user needs root")
def test_the_chief_refuses_an_outdir_that_belongs_to_someone_else(tmp_path, capsys, monkeypatch):
    """Its owner could plant a link at the weights' temporary name (h5py would follow it)."""
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setattr(distributed, "train_head", lambda *a, **k: pytest.fail("it trained"))
    out = tmp_path / "shared"
    out.mkdir()
    os.chown(out, 65534, 65534)  # nobody
    assert distributed.main([str(out)]) == 2
    stderr = capsys.readouterr().err
    assert stderr.strip() == (
        f"Cannot write the weights and results: the folder {out} belongs to nobody, who could "
        "replace the file at any moment; use a folder of your own."
    )
    assert not list(out.iterdir())
