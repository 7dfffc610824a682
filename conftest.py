"""Test-run defaults: every notebook runs in the ci profile and writes its results to a scratch folder.

Both are defaults only: set CNNLIB_PROFILE or CNNLIB_RESULTS_DIR to run the notebooks otherwise
(for example `CNNLIB_PROFILE=lite CNNLIB_RESULTS_DIR=results pytest notebooks/` to refresh results/).
nbval starts each notebook's kernel from this process, so the kernel inherits these variables.
"""

import os
import tempfile

os.environ.setdefault("CNNLIB_PROFILE", "ci")
os.environ.setdefault("CNNLIB_RESULTS_DIR", tempfile.mkdtemp(prefix="cnnlib-results-"))


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _network_state_is_per_test():
    """cnnlib.data remembers a failed download for the session; each test starts without that memory."""
    from cnnlib import data

    data.forget_network_failure()
    yield
    data.forget_network_failure()
