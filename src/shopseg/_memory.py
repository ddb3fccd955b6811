"""Handing freed memory back to the operating system between the large steps of a run.

CPython and NumPy free their large blocks with ``free``; glibc keeps the freed pages of its heaps for later
``malloc`` calls, so a process's resident size stays at what an earlier stage peaked at while the next one runs
(the act stage at Online Retail x100 sat on what recommend had freed). ``malloc_trim(0)`` returns those free
pages; it costs a few milliseconds and changes no result. A no-op where the C library has no ``malloc_trim``.
"""

from __future__ import annotations

import gc


def release_memory() -> bool:
    """Collect garbage and return freed heap pages to the OS; True when ``malloc_trim`` ran."""
    gc.collect()
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0) or True)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return False
