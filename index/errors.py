"""Why an index folder cannot be used: one exception per cause, each message saying what to do."""
from __future__ import annotations

class IndexUnavailable(Exception):
    """The index cannot be used; the message says what is wrong and what to do."""


class IndexMissing(IndexUnavailable):
    """No index has been built in this folder yet."""


class IndexDamaged(IndexUnavailable):
    """The live index is incomplete or inconsistent."""


class IndexBusy(IndexUnavailable):
    """Another rebuild or update holds the index folder."""


class ModelMismatch(IndexUnavailable):
    """The index was built with another model than the one configured."""
