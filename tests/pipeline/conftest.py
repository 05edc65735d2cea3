"""Pipeline tests use the shared helpers (tests/helpers.py) and the ``tiny_registry`` fixture (tests/conftest.py).

The names stay importable from here for older test modules.
"""

from tests.conftest import tiny_registry
from tests.helpers import TINY_DINO, texture, write_parts, write_reference

__all__ = ["TINY_DINO", "texture", "tiny_registry", "write_parts", "write_reference"]
