"""Importing this package registers every box type with bmff.box's registry."""

from . import (
    file,  # noqa: F401
    fragments,  # noqa: F401
    meta,  # noqa: F401
    movie,  # noqa: F401
    restricted,  # noqa: F401
    sample_groups,  # noqa: F401
    sample_table,  # noqa: F401
)
