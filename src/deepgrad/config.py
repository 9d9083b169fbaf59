"""Global settings with Keras 3's names (``keras.config``): how training messages are shown.

Interactive logging (the default) writes the callbacks' messages (early stopping, learning
rate changes, checkpoints) to standard output, as ``print`` does. After
:func:`disable_interactive_logging` they go to Python's :mod:`logging` instead, at level INFO
on the ``"deepgrad"`` logger, where an application's handlers (files, log collectors) pick
them up. Keras's ``io_utils.print_msg`` makes the same switch.

>>> import deepgrad
>>> deepgrad.config.is_interactive_logging_enabled()
True
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("deepgrad")

_INTERACTIVE = {"enabled": True}


def enable_interactive_logging() -> None:
    """Show messages on standard output (the default)."""
    _INTERACTIVE["enabled"] = True


def disable_interactive_logging() -> None:
    """Send messages to the ``"deepgrad"`` :mod:`logging` logger (level INFO) instead of standard output."""
    _INTERACTIVE["enabled"] = False


def is_interactive_logging_enabled() -> bool:
    """Whether messages go to standard output (True) or to :mod:`logging` (False)."""
    return _INTERACTIVE["enabled"]


def print_msg(message, line_break=True) -> None:
    """Show one message: written to stdout when interactive logging is enabled, else
    ``logging.getLogger("deepgrad").info(message)`` (Keras's ``io_utils.print_msg``)."""
    message = str(message)
    if is_interactive_logging_enabled():
        sys.stdout.write(message + "\n" if line_break else message)
        sys.stdout.flush()
    else:
        logger.info(message)
