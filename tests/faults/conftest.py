"""The fault-injection fixtures (defined in ``tests.faults.invariants``, for reuse)."""
from tests.faults.invariants import (  # noqa: F401
    fault_media,
    start_hlsd,
    start_hlsd_server,
    subreaper,
)
