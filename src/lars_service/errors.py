"""Typed errors of the service. `cli/main.py` alone turns them into the JSON error document.

Every error has a stable `error` name (what the JSON's `error` field says), an exit code, a message that
says what went wrong and how to fix it, and optional `details` for programs.
"""
from __future__ import annotations

from typing import Any

EXIT_PROCESSING = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class ServiceError(Exception):
    """Base of every error the service reports."""

    error = "ProcessingError"
    exit_code = EXIT_PROCESSING

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        """The JSON error document: {"error", "message", "details"}."""
        return {"error": self.error, "message": self.message, "details": self.details}


class UsageError(ServiceError):
    """The command line cannot be parsed."""

    error = "UsageError"
    exit_code = EXIT_USAGE


class InvalidOptionError(ServiceError):
    """An option's value is out of range or inconsistent with another."""

    error = "InvalidOption"
    exit_code = EXIT_USAGE


class InputError(ServiceError):
    """The input file is missing, unreadable, or not audio that libsndfile can decode."""

    error = "InvalidInput"
    exit_code = EXIT_USAGE


class OutputError(ServiceError):
    """The output directory cannot be created or written."""

    error = "OutputError"
    exit_code = EXIT_USAGE


class ProcessorUnavailableError(ServiceError):
    """The requested processor cannot run here (weights missing or refused, package absent)."""

    error = "ProcessorUnavailable"


class ProcessingError(ServiceError):
    """The separation itself failed."""

    error = "ProcessingError"


class CancelledError(ServiceError):
    """SIGINT, SIGTERM or a `serve` cancel request stopped the work; partial outputs were removed."""

    error = "Cancelled"

    def __init__(self, cause: str, exit_code: int, **details: Any) -> None:
        """`cause`: a signal's name ("SIGINT", "SIGTERM"; then `details` default to {"signal": cause}), or what
        else stopped the work, with its own `details`."""
        super().__init__(f"cancelled by {cause}; partial outputs were removed", **(details or {"signal": cause}))
        self.exit_code = exit_code

    @classmethod
    def by_signal(cls, signal_name: str) -> "CancelledError":
        """Cancelled by "SIGINT" (exit 130) or "SIGTERM" (exit 143)."""
        return cls(signal_name, EXIT_SIGINT if signal_name == "SIGINT" else EXIT_SIGTERM)

    @classmethod
    def by_request(cls, request_id: Any) -> "CancelledError":
        """Cancelled by a `{"cancel": id}` line sent to `serve`."""
        return cls("a cancel request", EXIT_PROCESSING, cancelled_by="request", id=request_id)


class InstallSourceError(ServiceError):
    """`models install` cannot use its SOURCE: absent, not a zip or folder, unsafe, or without the weights tree."""

    error = "InvalidSource"
    exit_code = EXIT_USAGE


class KitError(ServiceError):
    """A drum kit cannot be used: not a kit, unreadable, missing samples, or not an allowed source."""

    error = "InvalidKit"
    exit_code = EXIT_USAGE


class DownloadError(ServiceError):
    """The weights could not be downloaded (HTTP error, or the connection failed after every retry)."""

    error = "DownloadFailed"


class VerificationError(ServiceError):
    """Weights whose sha256 is not the official one were refused (or a converted file does not match its source)."""

    error = "VerificationFailed"


class ModelsDirError(ServiceError):
    """The models directory cannot be written, or holds files that are not LarsNet weights."""

    error = "ModelsDirError"


class UnknownRequestError(ServiceError):
    """`serve` got a `{"cancel": id}` for an id that is neither queued nor running."""

    error = "UnknownRequest"
    exit_code = EXIT_USAGE


def as_service_error(error: BaseException) -> ServiceError:
    """`error` itself when it is a ServiceError, else a ProcessingError saying what happened (out of memory, a bug)."""
    if isinstance(error, ServiceError):
        return error
    if isinstance(error, MemoryError):
        return ProcessingError(f"out of memory ({error}); try a shorter input or another device")
    return ProcessingError(f"{type(error).__name__}: {error}", exception=type(error).__name__)
