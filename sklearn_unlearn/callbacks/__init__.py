"""skorch callbacks that record what an unlearning method needs while a net trains.

Importing this package needs skorch (and torch).
"""

from ._amnesiac import AmnesiacLog, AmnesiacRecorder

__all__ = ["AmnesiacLog", "AmnesiacRecorder"]
