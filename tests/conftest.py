"""Test-wide setup: eight fake CPU devices so the data-parallel paths are exercised without a GPU.

Must run before jax is imported anywhere.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
