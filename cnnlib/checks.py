"""Checks that a notebook's prose is true: a ✓ line when it holds, an AssertionError when not."""
import numpy as np


def check(condition, claim):
    """Print "✓ claim" when `condition` is true; raise AssertionError("✗ claim") otherwise."""
    if not bool(condition):
        raise AssertionError(f"✗ {claim}")
    print(f"✓ {claim}")


def check_close(actual, expected, claim, rtol=1e-5, atol=1e-8):
    """Like `check`, for numbers or arrays that must agree to floating-point tolerance."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if actual.shape != expected.shape:
        raise AssertionError(f"✗ {claim}: shape {actual.shape} is not the expected {expected.shape}")
    if not np.allclose(actual, expected, rtol=rtol, atol=atol):
        worst = np.max(np.abs(actual - expected))
        raise AssertionError(f"✗ {claim}: largest difference {worst:.3g}")
    print(f"✓ {claim}")
