"""workbench: sentence encoders that stay good when cut down."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
