"""SQLite persistence of the station: settings, state, transactions, queue, auth data.

One ``Database`` per process; repositories are thin synchronous classes over it.
"""

from chargebox.store.auth import AuthCacheStore, AuthEntry, LocalListEntry, LocalListStore
from chargebox.store.db import Database, StoreError, normalize_time, utc_now
from chargebox.store.kv import SettingsStore, StateStore
from chargebox.store.outbox import MessageQueue, QueuedMessage
from chargebox.store.profiles import ProfileRecord, ProfileStore
from chargebox.store.reservations import ReservationStore
from chargebox.store.transactions import TransactionRecord, TransactionStore
from chargebox.store.whitelist import WhitelistEntry, WhitelistStore

__all__ = [
    "AuthCacheStore",
    "AuthEntry",
    "Database",
    "LocalListEntry",
    "LocalListStore",
    "MessageQueue",
    "ProfileRecord",
    "ProfileStore",
    "QueuedMessage",
    "ReservationStore",
    "SettingsStore",
    "StateStore",
    "StoreError",
    "TransactionRecord",
    "TransactionStore",
    "WhitelistEntry",
    "WhitelistStore",
    "normalize_time",
    "utc_now",
]
