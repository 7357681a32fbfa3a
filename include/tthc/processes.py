"""Child processes that must not outlive their parent (OCR workers, the application's workers)."""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1   # <linux/prctl.h>


def die_with_parent(parent_pid: int | None, sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux prctl PR_SET_PDEATHSIG),
    so a `kill -9` of the parent leaves no worker behind (an OCR worker holding a page of personal
    data, an application worker holding the port); and exit now if the parent is already gone (it
    died before the request was made)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %s): this worker may outlive its parent",
                        ctypes.get_errno())
    except (OSError, AttributeError):  # not Linux
        log.warning("prctl is not available: this worker may outlive a killed parent")
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(0)
