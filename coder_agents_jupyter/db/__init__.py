"""Persistence: tables, the async store, and migrations applied at start-up."""

from .engine import connect
from .states import ChatStatus
from .store import Caller, Store

__all__ = ["Caller", "ChatStatus", "Store", "connect"]
