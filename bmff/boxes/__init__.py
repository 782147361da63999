"""Importing this package registers every box type with bmff.box's registry."""

from . import file  # noqa: F401
from . import meta  # noqa: F401
from . import movie  # noqa: F401
from . import fragments  # noqa: F401
from . import sample_table  # noqa: F401
from . import sample_groups  # noqa: F401
from . import restricted  # noqa: F401
