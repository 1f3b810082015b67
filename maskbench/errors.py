"""Errors that maskbench raises for user mistakes.

Every user-facing problem (a missing file, an unreadable video, a mask of the wrong size,
a bad configuration key) raises a subclass of :class:`MaskbenchError` whose message is one
line saying what was wrong and how to fix it. The command line prints that line without a
traceback and exits with status 2. Programming errors are ordinary Python exceptions.
"""

from __future__ import annotations


class MaskbenchError(Exception):
    """Base class of every error caused by user input; the message is one line."""


class ConfigError(MaskbenchError):
    """A configuration file or command-line option is unknown, mistyped or out of range."""


class InputError(MaskbenchError):
    """An input file or array is missing, unreadable, or has the wrong shape, dtype or values."""


class OutputExistsError(MaskbenchError):
    """An output already exists and ``overwrite`` was not given."""


class MissingWeightsError(MaskbenchError):
    """Pretrained weights are not on disk and cannot be downloaded."""


class InsufficientMasksError(MaskbenchError):
    """A mask store cannot fill every bin of a test split."""


class MaskbenchWarning(UserWarning):
    """Something a user should know that does not stop the command; printed as one line."""


class MixedMethodsError(ConfigError):
    """A mask store would hold masks of two flow or occlusion methods and that was not allowed."""
