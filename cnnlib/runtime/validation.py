"""Argument checks shared by cnnlib's public functions: errors that name the argument and what was expected."""

import numbers


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_seed(seed, name="seed"):
    """A random seed: a non-negative integer (what NumPy, Python and TensorFlow all accept)."""
    if not _is_int(seed):
        raise TypeError(
            f"{name} must be a non-negative integer, got {seed!r} ({type(seed).__name__})"
        )
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {seed}")
    return int(seed)


def check_positive_int(value, name):
    """An integer of at least 1 (a size, a count, a batch size)."""
    if not _is_int(value):
        raise TypeError(
            f"{name} must be a positive integer, got {value!r} ({type(value).__name__})"
        )
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def check_optional_count(value, name, meaning_of_none="all of them"):
    """None (meaning `meaning_of_none`) or a positive integer; 0 is refused, not read as "all"."""
    if value is None:
        return None
    if not _is_int(value):
        raise TypeError(
            f"{name} must be None ({meaning_of_none}) or a positive integer, got {value!r}"
        )
    if value < 1:
        raise ValueError(
            f"{name} must be None ({meaning_of_none}) or a positive integer, got {value}"
        )
    return int(value)


def check_shape(shape, name="input_shape", allow_none=False):
    """A tuple of positive integers (or None for a free dimension when `allow_none`)."""
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(
            f"{name} must be a tuple of integers such as (28, 28, 1), got {shape!r}"
        ) from None
    for size in shape:
        if size is None and allow_none:
            continue
        if not _is_int(size):
            expected = "integers or None" if allow_none else "integers"
            raise TypeError(
                f"{name} must hold {expected}, got {shape!r} ({size!r} is a {type(size).__name__})"
            )
        if size < 1:
            raise ValueError(f"{name} must hold positive sizes, got {shape!r}")
    return tuple(None if size is None else int(size) for size in shape)


def int_pair(value, name, minimum=None):
    """An int or a pair of ints, as a (vertical, horizontal) pair of Python ints; with `minimum`,
    both must be at least that. Otherwise ValueError naming `name` and the value given."""
    if _is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_int, value)):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(
            f"{name} must be an int or a pair of ints (vertical, horizontal), got {value!r}"
        )
    if minimum is not None and min(pair) < minimum:
        raise ValueError(f"{name} must be at least {minimum} in both directions, got {value!r}")
    return pair
