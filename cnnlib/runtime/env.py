"""The course's on/off environment variables, read one way.

Every switch (CNNLIB_OFFLINE, CNNLIB_VERBOSE, CNNLIB_REHEARSAL, CI) means "on" for
1, true, yes, on and "off" for 0, false, no, off or when it is unset or empty; case and the spaces
around the word do not matter. Any other word is refused with a sentence naming the variable,
so that CNNLIB_OFFLINE=disabled never means the opposite of what its writer meant.

CI is the one variable the course does not own: CI services set it, some to their own name
(Woodpecker writes CI=woodpecker), so `cnnlib.runtime.profiles` takes such a word as "set".
"""

import os

ON = ("1", "true", "yes", "on")
OFF = ("", "0", "false", "no", "off")


def flag(name):
    """True when the environment variable `name` is switched on, False when off or unset.

    Raises ValueError (one sentence) for a word that is neither.
    """
    value = os.environ.get(name, "")
    word = value.strip().lower()
    if word in ON:
        return True
    if word in OFF:
        return False
    raise ValueError(
        f"{name}={value!r} is neither on nor off: set it to one of {', '.join(ON)} "
        f"(on) or {', '.join(w for w in OFF if w)} (off), or unset it."
    )


def tolerate_any_output_encoding():
    """Let a command print its ✓ and ✗ to any output stream: a character the stream's encoding
    lacks (PYTHONIOENCODING=cp1252, a C locale) is written as an escape instead of raising."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
