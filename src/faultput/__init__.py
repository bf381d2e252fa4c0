"""faultput: how fast the kernel serves page faults, and how that holds up as threads are added."""

__version__ = "0.1.0"
