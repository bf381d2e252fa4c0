"""The one error family faultput raises for things a user can act on.

The command line turns each into a one-line message and its exit code;
nothing else in faultput prints or exits.
"""


class FaultputError(Exception):
    """A run could not be done as asked; the message names what and why."""

    exit_code = 1


class UsageError(FaultputError):
    """The user asked for something invalid: a bad value, or more than the machine has."""

    exit_code = 2


class RunError(FaultputError):
    """The system refused something during a run, such as a mapping."""

    exit_code = 1


class CannotRunHere(UsageError):
    """A fault type cannot run in the combination asked for (a mode, a variant), or on this
    machine at all: a sweep may skip it (--skip-unavailable) where it would refuse a bad value."""


class FaultTypeUnavailable(CannotRunHere):
    """A fault type cannot run on this machine; reason says why, without the type's name."""

    def __init__(self, fault_type: str, reason: str):
        super().__init__(f"fault type {fault_type} cannot run here: {reason}")
        self.reason = reason
