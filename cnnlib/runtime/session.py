"""The set-up call every notebook makes first, and the `Run` it returns."""

import contextlib
import json
import os
import pathlib
import platform
import re
import sys
import tempfile
import time

from cnnlib.runtime import hosted, locations, rehearsal
from cnnlib.runtime.locations import RESULTS_VARIABLE, course_root  # noqa: F401  (course_root: public here too)
from cnnlib.runtime.profiles import PROFILE_VARIABLE, PROFILES, choose_profile
from cnnlib.runtime.quiet import install as _quiet_tensorflow_import
from cnnlib.runtime.quiet import quiet_stderr
from cnnlib.runtime.validation import check_seed

# `import cnnlib` imports this module: from then on, the first `import tensorflow` (also the one
# inside a later `import keras`) keeps TensorFlow's C++ start-up lines out of the notebook.
_quiet_tensorflow_import()

NOTEBOOK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")
# Matplotlib back-ends that draw into files only: a figure made under one never shows on screen.
NON_INTERACTIVE_BACKENDS = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}
_warned_about_figures = False


def _gpus():
    with quiet_stderr():  # TensorFlow's C++ start-up lines and CPU-only CUDA probe errors
        import tensorflow as tf

        return tf.config.list_physical_devices("GPU")


def _configure_gpus(gpus, mixed_precision):
    """Memory growth (so several notebooks can share a GPU) and, where it pays, mixed precision.

    Returns a short description of the device(s) and whether mixed precision is on.
    """
    import keras
    import tensorflow as tf

    names = []
    fast_half_precision = True
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            # Already initialised by an earlier cell: growth can no longer change, which is fine.
            pass
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
        # Tensor cores (compute capability 7.0 and later) are where float16 speeds training up.
        capability = details.get("compute_capability") or (0, 0)
        fast_half_precision &= tuple(capability) >= (7, 0)

    use_mixed = bool(gpus) and (
        fast_half_precision if mixed_precision == "auto" else bool(mixed_precision)
    )
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    if not gpus:
        return f"CPU ({os.cpu_count()} cores, {platform.machine()})", use_mixed
    return "GPU: " + ", ".join(names), use_mixed


def find_results_dir():
    """Where <notebook>.json goes: $CNNLIB_RESULTS_DIR, else my_results/ (ignored by git).

    A relative $CNNLIB_RESULTS_DIR is taken from the course folder, not from the notebook's own
    folder (where Jupyter runs the kernel), so `CNNLIB_RESULTS_DIR=results` — the maintainer's way
    to refresh the committed results/ — means the same everywhere.
    """
    return locations.requested_results_dir()


def _network_waits():
    from cnnlib.runtime import network

    return network.waited_seconds()


class Run:
    """What a notebook knows about its run: profile, settings, device, and where results go."""

    def __init__(self, notebook, profile, reason, device, mixed_precision, seed):
        self.notebook = notebook
        self.profile = profile
        self.profile_reason = reason
        self.settings = PROFILES[profile]
        self.device = device
        self.mixed_precision = mixed_precision
        self.seed = seed
        self.seconds = 0.0
        self.results_dir = None  # chosen by setup: where record() writes
        self.results_path = None  # the file the last record() wrote
        self.rehearsal = (
            rehearsal.active()
        )  # files that only mimic the real ones: nothing is a result
        self._started = time.perf_counter()
        self._waits_at_start = _network_waits()

    @property
    def on_gpu(self):
        return self.device.startswith("GPU")

    @contextlib.contextmanager
    def timer(self):
        """Time a block of the notebook's main work; `record` reports the sum of all blocks.

        Time spent waiting on a network that then failed (a firewall) is left out.
        """
        start, waited = time.perf_counter(), _network_waits()
        try:
            yield
        finally:
            self.seconds += max(0.0, time.perf_counter() - start - (_network_waits() - waited))

    def record(self, metrics, data_source, **extra):
        """Write <notebook>.json (and a copy under <profile>/) to the results folder; print where.

        `metrics` is a dict of headline numbers; `data_source` says what data was actually used.
        `seconds` is the sum of the `timer()` blocks (or the time since `setup` if none was used),
        without time spent waiting on a network that failed; `notebook_seconds` is the whole run.
        Returns None (the path is in `run.results_path`). A folder that cannot be written to is
        replaced, with one sentence, by the user's cache folder: a finished run is never lost.
        """
        if not isinstance(metrics, dict):
            raise ValueError(
                f"metrics must be a dict of headline numbers, got {type(metrics).__name__}"
            )
        if self.rehearsal:
            print(
                f"{rehearsal.LABEL}: nothing recorded; numbers from rehearsal files are not results."
            )
            return None
        seconds, text = self._result(metrics, data_source, extra)
        self.results_path = self._save(text)
        print(
            f"Recorded {self.notebook} ({self.profile} profile, {seconds:.1f} s) in "
            f"{self.results_path}"
        )
        return None

    def _result(self, metrics, data_source, extra):
        """(main-work seconds, the results file's JSON text)."""
        import keras
        import tensorflow as tf

        now = time.perf_counter()
        waited = _network_waits() - self._waits_at_start
        seconds = self.seconds if self.seconds else max(0.0, now - self._started - waited)
        result = {
            "notebook": self.notebook,
            "profile": self.profile,
            "device": self.device,
            "seconds": round(seconds, 1),
            "notebook_seconds": round(now - self._started, 1),
            "data_source": data_source,
            "metrics": metrics,
            **extra,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "recorded": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        return seconds, json.dumps(result, indent=2, default=_plain) + "\n"

    def _save(self, text):
        """Write the results file; a folder that cannot be written to gives way, with one
        sentence, to the user's cache folder."""
        folder = self.results_dir or find_results_dir()
        try:
            return _write_results(folder, self.notebook, self.profile, text)
        except OSError as error:
            fallback = locations.user_cache_dir() / "results"
            print(
                f"⚠ Could not write the results to {folder} ({locations.why_not_writable(folder)}: "
                f"{type(error).__name__}); writing them to {fallback} instead."
            )
            return _write_results(fallback, self.notebook, self.profile, text)


def _write_results(folder, notebook, profile, text):
    """Write <notebook>.json and <profile>/<notebook>.json, each atomically: a full disk or a kill
    leaves the previous file whole, never a truncated one."""
    folder = pathlib.Path(folder)
    for path in (folder / f"{notebook}.json", folder / profile / f"{notebook}.json"):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text)
    return folder / f"{notebook}.json"


def write_atomically(path, text):
    """Write `text` to a temporary file beside `path`, then rename it over `path`."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _plain(value):
    """JSON fallback for NumPy scalars and arrays."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a results file")


def check_notebook_name(notebook):
    """A notebook's file stem such as "05_lenet5_mnist": letters, digits, "_" and "-", no folders."""
    if not isinstance(notebook, str) or not NOTEBOOK_NAME.fullmatch(notebook):
        raise ValueError(
            f"notebook must be the notebook's file stem, such as '05_lenet5_mnist' (letters, digits, "
            f"'_' and '-', no folders), got {notebook!r}"
        )
    return notebook


def _in_ipython_kernel():
    ipython = sys.modules.get("IPython")
    shell = (
        ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    )
    return shell is not None and type(shell).__name__ != "TerminalInteractiveShell"


def warn_if_figures_will_not_show():
    """Say once when Matplotlib draws into files only (e.g. Agg in a script): figures will not appear."""
    global _warned_about_figures
    if _warned_about_figures or "matplotlib" not in sys.modules or _in_ipython_kernel():
        return False  # notebooks (inline back-end, nbval, nbclient) show their figures
    import matplotlib

    backend = str(matplotlib.get_backend()).lower()
    if backend.replace("module://", "") not in NON_INTERACTIVE_BACKENDS:
        return False
    _warned_about_figures = True
    print(
        f"Note: Matplotlib's back-end is {backend!r}, which draws into files only: the figures of this run "
        f"will not show (run the notebook in Jupyter, or set MPLBACKEND to an interactive back-end)."
    )
    return True


def setup(notebook, seed=42, mixed_precision="auto", deterministic=True):
    """Seed Python, NumPy and TensorFlow; choose the profile; set up and report the device.

    `notebook` is the notebook's file stem (e.g. "05_lenet5_mnist"): results are recorded
    under that name. `mixed_precision` is "auto" (on for GPUs with tensor cores), True or False.
    `deterministic=True` asks TensorFlow for deterministic ops, so that a rerun with the same seed
    gives the same numbers.
    """
    check_notebook_name(notebook)
    check_seed(seed)
    if mixed_precision not in ("auto", True, False):
        raise ValueError(f"mixed_precision must be 'auto', True or False, got {mixed_precision!r}")
    if deterministic not in (True, False):
        raise ValueError(f"deterministic must be True or False, got {deterministic!r}")
    gpus = _gpus()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)  # seeds Python's random, NumPy and TensorFlow together
    from tensorflow.python.framework import (
        config as tf_config,  # disable_op_determinism is not public
    )

    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        tf_config.disable_op_determinism()
    device, mixed = _configure_gpus(gpus, mixed_precision)
    profile, reason = choose_profile(has_gpu=bool(gpus))
    run = Run(notebook, profile, reason, device, mixed, seed)
    requested = find_results_dir()
    run.results_dir = locations.usable_folder(requested, "results", "results")
    default = run.results_dir == requested and not os.environ.get(RESULTS_VARIABLE)
    if locations.is_tracked_results(run.results_dir):
        where = f"{run.results_dir} (the course's committed results: a maintainer run)"
    elif default and locations.course_root():
        where = f"{run.results_dir} (not tracked by git)"
    elif default and hosted.runtime_name():
        where = (
            f"{run.results_dir}, checkpoints to {locations.checkpoint_base()} (in the file pane; "
            f"download them to keep them: {hosted.runtime_name()} deletes them with the runtime)"
        )
    else:
        where = str(run.results_dir)
    hint = hosted.env_hint(PROFILE_VARIABLE, "ci|lite|full")
    print(
        f"Profile: {profile} ({reason}; override with {hint})\n"
        f"TensorFlow {tf.__version__}, Keras {keras.__version__} (backend: {keras.backend.backend()})\n"
        f"Device: {device}; mixed precision {'on' if mixed else 'off'}\n"
        f"Seed: {seed}{' (deterministic ops)' if deterministic else ''}\n"
        f"Results go to {where}"
    )
    if keras.backend.backend() != "tensorflow":
        print(
            "Note: this course is written for the TensorFlow backend; unset KERAS_BACKEND to use it."
        )
    if run.rehearsal:
        print(rehearsal.BANNER)
        rehearsal.watermark_figures()
    warn_if_figures_will_not_show()
    return run
