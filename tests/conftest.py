"""Test-wide setup: eight fake CPU devices so the data-parallel paths are exercised without a GPU.

Must run before jax is imported anywhere.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")


import contextlib  # noqa: E402
import warnings  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def no_fork_warning():
    """A context manager: its block must not raise JAX's os.fork() warning. A JAX backend is started first, since
    JAX warns on a fork only once one is up — so running ffmpeg unguarded inside the block would fail."""
    import jax

    jax.devices()

    @contextlib.contextmanager
    def check():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        assert not [str(w.message) for w in caught if "os.fork" in str(w.message)]

    return check
