"""The fault-injection fixtures (defined in ``tests.faults.fixtures``, for reuse)."""
from tests.faults.fixtures import (  # noqa: F401
    fault_media,
    start_hlsd,
    start_hlsd_server,
    subreaper,
)
