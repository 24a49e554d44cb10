"""Plain records that cross the store boundary: the store returns these, the rooms take them.

Frozen dataclasses, one per kind of row a caller works with. They hold data only; rules about
that data live in the room that owns it.
"""

from __future__ import annotations

from dataclasses import dataclass  # noqa: F401  (records are added below, one section per room)
