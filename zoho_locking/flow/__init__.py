"""Flow control: when a request may be sent.

`base` holds the `Flow` interface and its `Permit`; `local` the in-process
`FlowControl`; `redisflow` the budget shared through Redis (the ``redis``
extra: import it from `zoho_locking.flow.redisflow`); `limitstore` what a run
learned of the org's in-flight limit.
"""

from .base import Clock, Flow, Permit, Sleep
from .local import FlowControl

__all__ = ["Clock", "Flow", "FlowControl", "Permit", "Sleep"]
