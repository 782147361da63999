"""bmff: byte-exact ISO base media file (MP4, MOV, HEIF) reader and writer, standard library only."""

from . import boxes  # noqa: F401  (registers every box type of ISO/IEC 14496-12)
from .amd1 import boxes as _amd1_boxes  # noqa: F401  (registers the boxes of ISO/IEC 14496-15 Amd 1)
from .amd1 import rules as _amd1_rules  # noqa: F401  (registers its shall-statements as `bmff validate` checks)
from .box import BmffError, Box, ContainerBox, FullBox, FullContainerBox, UnknownBox, register
from .io import File, parse

__all__ = ["Box", "BmffError", "ContainerBox", "File", "FullBox", "FullContainerBox", "UnknownBox", "parse",
           "register"]
