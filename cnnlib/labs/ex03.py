"""Exercises of notebook 03 (padding and stride)."""
import itertools
import math

from cnnlib import ops
from cnnlib.labs.core import Wrong, call, exercise

# Sizes, kernels, paddings and strides that separate the usual formula mistakes.
_SIZE_CASES = [
    (n, f, p, s)
    for n, f, p, s in itertools.product((5, 6, 7, 28, 32, 224), (1, 2, 3, 5, 7), (0, 1, 2, 3), (1, 2, 3))
    if f <= n + 2 * p
]

# (formula a learner might write, hint) — checked in order on the first case that fails.
_MISTAKES = [
    (lambda n, f, p, s: (n + 2 * p - f) // s, "off by one: the first position counts too, so add 1 after dividing"),
    (lambda n, f, p, s: (n + p - f) // s + 1, "padding goes on both sides: add 2p, not p"),
    (lambda n, f, p, s: math.ceil((n + 2 * p - f) / s) + 1,
     "round down, not up: a window that would hang over the edge is not computed"),
    (lambda n, f, p, s: (n + 2 * p - f) / s + 1,
     "the result must be a whole number: floor the division ((n + 2p − f) // s) before adding 1"),
    (lambda n, f, p, s: (n + 2 * p - f) + 1, "the stride is missing: divide (n + 2p − f) by s"),
    (lambda n, f, p, s: (n + 2 * p - f + 1) // s, "add 1 after the division, not before it"),
    (lambda n, f, p, s: (n - 2 * p - f) // s + 1, "padding makes the input larger: + 2p, not − 2p"),
]


@exercise("03.output_size", "the output-size formula (deck 002)", "implement", "warm-up")
def check_output_size(output_size):
    """`output_size(n, f, padding, stride)`: output length for an int padding (deck 002's formula)."""
    answers = {}
    for n, f, p, s in _SIZE_CASES:
        got = call(output_size, n, f, p, s, on=f"for n={n}, f={f}, padding={p}, stride={s}")
        answers[(n, f, p, s)] = got
    wrong = [(case, got) for case, got in answers.items() if got != ops.output_size(*case)]
    if not wrong:
        return f"right on all {len(_SIZE_CASES)} combinations of size, kernel, padding and stride"
    (n, f, p, s), got = wrong[0]
    what = f"for n={n}, f={f}, padding={p}, stride={s} you return {got!r}; the output has {ops.output_size(n, f, p, s)} positions"
    # The hint of the first typical mistake that explains every answer given.
    for mistake, hint in _MISTAKES:
        if all(answer == mistake(*case) for case, answer in answers.items()):
            raise Wrong(what, hint)
    raise Wrong(what, "the formula is floor((n + 2p − f) / s) + 1")
