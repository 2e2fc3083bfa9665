"""Fault injection: every fault of SPEC.md against a real hlsd, then the six invariants.

``invariants`` holds the checks and fixtures, ``players`` the clients that play while
faults fire; ``tests.chaos`` is the randomized soak built on both.
"""
