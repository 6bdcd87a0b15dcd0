"""User errors: bad input that the workbench refuses with a message naming the culprit.

Library code raises a subclass of :class:`WorkbenchError` for anything the user can fix (a
parameter, a path, a column, a row, a value). The ``workbench`` command prints such an error as
one line, ``error: <message>``, and exits non-zero without a traceback (``--debug`` shows it).
Each subclass also derives from the built-in type callers already catch (``ValueError``,
``FileNotFoundError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Bad input the user can fix; the message names the parameter, path, column, row or value."""


class ParameterError(WorkbenchError, ValueError):
    """A parameter of the wrong type or out of range; names the parameter, value and what is allowed."""


class FolderError(WorkbenchError, FileNotFoundError):
    """A run or output folder that cannot be used (finished work, a file, read-only, not a run)."""


class ModelError(WorkbenchError, ValueError):
    """A model asked for something it lacks (a layer beyond its depth, a dimension beyond its width)."""


class ModelNotFoundError(WorkbenchError, FileNotFoundError):
    """A model spec that is neither a folder, a reachable Hub id nor an installed alias."""
