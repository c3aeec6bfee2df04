"""Every write of smart sensing (one function per use case; see the modules it re-exports)."""

from wangge.perception.devices import (
    device_disable,
    device_enable,
    device_key,
    device_key_rotate,
    device_register,
)
from wangge.perception.ingest import dead_letter_store, messages_ingest, messages_purge

__all__ = [
    "device_disable",
    "device_enable",
    "device_key",
    "device_key_rotate",
    "device_register",
    "dead_letter_store",
    "messages_ingest",
    "messages_purge",
]
