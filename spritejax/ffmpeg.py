"""imageio's ffmpeg plugin runs ffmpeg as a subprocess: the process forks, and the child execs ffmpeg at once."""

from __future__ import annotations

import contextlib
import warnings


@contextlib.contextmanager
def quiet_fork():
    """Silence JAX's os.fork() warning inside: it is for a child that goes on running Python beside JAX's threads
    (which can deadlock); a child that execs ffmpeg at once cannot, and the warning would only alarm users."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        yield
