"""Checks that a notebook's prose is true: a ✓ line when it holds, an AssertionError when not."""

import numpy as np

from cnnlib.runtime import rehearsal


def check(condition, claim):
    """Print "✓ claim" when `condition` is true; raise AssertionError("✗ claim") otherwise."""
    if not bool(condition):
        raise AssertionError(f"✗ {claim}")
    print(f"✓ {claim}")


def check_real(condition, claim):
    """`check` for a claim only real data can earn (an accuracy, a prediction of real weights).

    In a rehearsal (look-alike files, see cnnlib.runtime.rehearsal) it is skipped with a visible line
    instead of being asserted on data that cannot earn it.
    """
    if rehearsal.active():
        print(f"⏭ {rehearsal.LABEL}: not checked (only real data can earn it): {claim}")
        return
    check(condition, claim)


def _assert_close(actual, expected, claim, rtol, atol):
    """AssertionError naming the claim unless `actual` and `expected` agree to tolerance."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if actual.shape != expected.shape:
        raise AssertionError(
            f"✗ {claim}: shape {actual.shape} is not the expected {expected.shape}"
        )
    if not np.allclose(actual, expected, rtol=rtol, atol=atol):
        worst = np.max(np.abs(actual - expected))
        raise AssertionError(f"✗ {claim}: largest difference {worst:.3g}")


def check_close(actual, expected, claim, rtol=1e-5, atol=1e-8):
    """Like `check`, for numbers or arrays that must agree to floating-point tolerance."""
    _assert_close(actual, expected, claim, rtol, atol)
    print(f"✓ {claim}")


class Claims:
    """Collect the claims of one section and report them in a single line.

    A lecture should not end every cell with a column of ✓ lines. Inside ``with claims("…") as
    claim:`` each ``claim(condition, text)`` is checked at once (a false one raises
    AssertionError naming it); when the block ends, one line says how many held.
    """

    def __init__(self, section):
        self.section = section
        self.count = 0
        self.skipped = 0

    def __call__(self, condition, claim):
        if not bool(condition):
            raise AssertionError(f"✗ {claim}")
        self.count += 1

    def real(self, condition, claim):
        """A claim only real data can earn: skipped (and counted as such) in a rehearsal."""
        if rehearsal.active():
            self.skipped += 1
            return
        self(condition, claim)

    def close(self, actual, expected, claim, rtol=1e-5, atol=1e-8):
        """A claim that two numbers or arrays agree to floating-point tolerance."""
        _assert_close(actual, expected, claim, rtol, atol)
        self.count += 1

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if kind is None:
            noun = "claim" if self.count == 1 else "claims"
            skipped = (
                f" ({self.skipped} skipped: {rehearsal.LABEL}, only real data can earn them)"
                if self.skipped
                else ""
            )
            print(f"✓ {self.count} {noun} checked: {self.section}{skipped}")
        return False


def claims(section):
    """``with claims("section") as claim: claim(cond, "text") …`` → one ✓ summary line."""
    return Claims(section)
