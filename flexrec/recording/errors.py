"""Errors the recording service raises; the web layer maps each to one HTTP status.

RecordingError
├── NotFound      (404) no task or recording target known for the request
├── Forbidden     (403) the actor may not act on this task
├── InvalidState  (409) the recording cannot make that transition now
└── Unavailable   (503) Twilio kept failing; the caller may retry shortly
"""

from __future__ import annotations


class RecordingError(Exception):
    """Base of every error the recording service lets out."""


class NotFound(RecordingError):
    """The task or its recording is unknown."""


class Forbidden(RecordingError):
    """The actor is neither the task's assigned worker nor a supervisor/admin."""


class InvalidState(RecordingError):
    """The recording is in a state that does not allow the requested action."""


class Unavailable(RecordingError):
    """Twilio kept failing (429/5xx/timeout) while serving an interactive request."""
