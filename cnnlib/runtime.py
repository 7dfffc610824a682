"""The set-up call every notebook makes first, and the `Run` it returns."""
import contextlib
import json
import os
import pathlib
import platform
import time

from cnnlib.profiles import PROFILES, choose_profile

RESULTS_VARIABLE = "CNNLIB_RESULTS_DIR"


def _gpus():
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


def course_root():
    """The course folder (holding notebooks/ and cnnlib/) above the working directory, or None."""
    here = pathlib.Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "notebooks").is_dir() and (folder / "cnnlib").is_dir():
            return folder
    return None


def find_results_dir():
    """Where results/<notebook>.json go: $CNNLIB_RESULTS_DIR, else the course's results/ folder.

    A relative $CNNLIB_RESULTS_DIR is taken from the course folder, not from the notebook's own
    folder (where Jupyter runs the kernel), so `CNNLIB_RESULTS_DIR=results` means the same everywhere.
    """
    base = course_root() or pathlib.Path.cwd()
    return base / os.environ.get(RESULTS_VARIABLE, "results")


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
        self._started = time.perf_counter()

    @property
    def on_gpu(self):
        return self.device.startswith("GPU")

    @contextlib.contextmanager
    def timer(self):
        """Time a block of the notebook's main work; `record` reports the sum of all blocks."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - start

    def record(self, metrics, data_source, **extra):
        """Write results/<notebook>.json (and a copy under results/<profile>/) and return its path.

        `metrics` is a dict of headline numbers; `data_source` says what data was actually used.
        `seconds` is the sum of the `timer()` blocks (or the time since `setup` if none was used);
        `notebook_seconds` is the whole run since `setup`.
        """
        if not isinstance(metrics, dict):
            raise ValueError(f"metrics must be a dict of headline numbers, got {type(metrics).__name__}")
        import keras
        import tensorflow as tf

        seconds = self.seconds if self.seconds else time.perf_counter() - self._started
        result = {
            "notebook": self.notebook,
            "profile": self.profile,
            "device": self.device,
            "seconds": round(seconds, 1),
            "notebook_seconds": round(time.perf_counter() - self._started, 1),
            "data_source": data_source,
            "metrics": metrics,
            **extra,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "recorded": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        folder = find_results_dir()
        text = json.dumps(result, indent=2, default=_plain) + "\n"
        for path in (folder / f"{self.notebook}.json", folder / self.profile / f"{self.notebook}.json"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        print(f"Recorded {self.notebook} ({self.profile} profile, {seconds:.1f} s) in {folder / self.notebook}.json")
        return folder / f"{self.notebook}.json"


def _plain(value):
    """JSON fallback for NumPy scalars and arrays."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a results file")


def setup(notebook, seed=42, mixed_precision="auto"):
    """Seed Python, NumPy and TensorFlow; choose the profile; set up and report the device.

    `notebook` is the notebook's file stem (e.g. "05_lenet5_mnist"): results are recorded
    under that name. `mixed_precision` is "auto" (on for GPUs with tensor cores), True or False.
    """
    if not isinstance(notebook, str) or not notebook:
        raise ValueError(f"notebook must be the notebook's file stem, got {notebook!r}")
    if mixed_precision not in ("auto", True, False):
        raise ValueError(f"mixed_precision must be 'auto', True or False, got {mixed_precision!r}")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)  # seeds Python's random, NumPy and TensorFlow together
    gpus = _gpus()
    device, mixed = _configure_gpus(gpus, mixed_precision)
    profile, reason = choose_profile(has_gpu=bool(gpus))
    run = Run(notebook, profile, reason, device, mixed, seed)
    print(
        f"Profile: {profile} ({reason}; override with CNNLIB_PROFILE=ci|lite|full)\n"
        f"TensorFlow {tf.__version__}, Keras {keras.__version__} (backend: {keras.backend.backend()})\n"
        f"Device: {device}; mixed precision {'on' if mixed else 'off'}\n"
        f"Seed: {seed}"
    )
    if keras.backend.backend() != "tensorflow":
        print("Note: this course is written for the TensorFlow backend; unset KERAS_BACKEND to use it.")
    return run
