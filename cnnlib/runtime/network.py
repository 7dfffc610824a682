"""What this session learned about the network: a failure for lack of it, and the seconds waited.

`cnnlib.data` notes a failed download here, so the next download fails at once instead of waiting
again; `Run` subtracts the seconds waited from a run's recorded time.
"""

_failure = None
_waited = 0.0


def failure():
    """Why the network was found unreachable in this session, or None."""
    return _failure


def note_failure(reason, seconds):
    """Remember that the network could not be reached (and how long finding out took)."""
    global _failure, _waited
    _failure = reason
    _waited += seconds


def forget_failure():
    """Try the network again at the next download (after a failed one, downloads fail at once)."""
    global _failure
    _failure = None


def waited_seconds():
    """Total seconds this session spent waiting on the network before a download failed."""
    return _waited
