"""Keep TensorFlow's C++ start-up lines out of the notebooks unless something actually failed.

Importing TensorFlow and probing for GPUs writes 5–10 lines straight to the process's standard
error (absl's "All log messages before absl::InitializeLog()", oneDNN's notice, "Could not find
cuda drivers", "failed call to cuInit ... UNKNOWN ERROR (303)" on every CPU machine);
``TF_CPP_MIN_LOG_LEVEL`` no longer silences them. On a laptop they read like a failure. While
TensorFlow is imported and the devices are probed, `quiet_stderr` points file descriptor 2 at a
temporary file; the text is kept in `startup_log()` and shown only when the block raises.
``CNNLIB_VERBOSE=1`` turns the capture off (for debugging a GPU set-up).

`install()` (called by ``import cnnlib``) wraps the first ``import tensorflow`` — wherever it comes
from, e.g. ``import keras`` in a later line — in that capture.
"""

import contextlib
import importlib.machinery
import io
import os
import sys
import tempfile

from cnnlib.runtime.env import flag

VERBOSE_VARIABLE = "CNNLIB_VERBOSE"
_log = []


def startup_log():
    """Everything the captured blocks wrote to standard error (TensorFlow's start-up lines)."""
    return "".join(_log)


def _verbose():
    return flag(VERBOSE_VARIABLE)


@contextlib.contextmanager
def quiet_stderr():
    """Capture everything written to standard error inside the block, C++ included; replay it on failure."""
    if _verbose():
        yield
        return
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):
        pass
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (some embedded interpreters): nothing to capture
        yield
        return
    python_level = io.StringIO()
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        failed = True
        try:
            with contextlib.redirect_stderr(python_level):
                yield
            failed = False
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace") + python_level.getvalue()
            _log.append(text)
            if failed and text:
                sys.stderr.write(text)
                sys.stderr.flush()


class _QuietTensorFlowImport:
    """A meta-path finder that runs the first `import tensorflow` inside `quiet_stderr`."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        uninstall()
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def quiet_exec_module(module):
            with quiet_stderr():
                exec_module(module)
                # The CUDA probe ("failed call to cuInit" on CPU machines) runs at the first device
                # query; run it now, inside the capture. It does not fix GPU settings (memory growth).
                with contextlib.suppress(Exception):
                    module.config.list_physical_devices()

        spec.loader.exec_module = quiet_exec_module
        return spec


_finder = _QuietTensorFlowImport()


def install():
    """Quiet the first `import tensorflow` of this process (a no-op once TensorFlow is loaded)."""
    if "tensorflow" not in sys.modules and _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def uninstall():
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(_finder)
