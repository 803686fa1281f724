"""The exceptions of the tracking app: one base, one subclass per thing gone wrong."""


class TrackingError(Exception):
    """Base class of every error the tracking app raises on purpose."""


class InvalidEvent(TrackingError, ValueError):
    """The event to record is malformed: a bad kind, bad data, or too large."""


class OrderFinished(TrackingError):
    """The order is in a terminal status, so no further event may be recorded."""


class BadPosition(TrackingError, ValueError):
    """A stream request's position (``Last-Event-ID``) is not a valid event id."""


class DatabaseNotReady(TrackingError):
    """The database lacks what the app writes into it on ``migrate``."""
