"""The catalogue of fault types: every module in this package that defines FAULT_TYPE.

Adding a fault type is adding one module here.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..errors import UsageError
from .base import FaultType

# The seed's --access values, and the fault type each measures on Linux.
FAULT_TYPE_FOR_ACCESS = {"write": "zero-fill", "read": "zero-page"}


def all_fault_types() -> dict[str, FaultType]:
    """Returns every fault type by name, in module order."""
    found: dict[str, FaultType] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        fault_type = getattr(module, "FAULT_TYPE", None)
        if isinstance(fault_type, FaultType):
            found[fault_type.name] = fault_type
    return found


def check_runnable(spec) -> None:
    """Raises FaultTypeUnavailable where spec's fault type cannot run on this machine. Unlike
    making a spec, this may probe the kernel (map a page, start a userfaultfd handler)."""
    from ..errors import FaultTypeUnavailable

    kind = get_fault_type(spec.fault_type)
    reason = kind.unavailable_reason(spec)
    if reason is not None:
        raise FaultTypeUnavailable(kind.name, reason)


def get_fault_type(name: str) -> FaultType:
    """Returns the fault type called name; raises UsageError naming the known ones."""
    known = all_fault_types()
    try:
        return known[name]
    except KeyError:
        raise UsageError(f"unknown fault type {name!r} (known: {', '.join(known)})") from None
