"""Storage: the one table, its layout, and every DynamoDB call. Nothing outside this package touches it.

Layout (single table, ``pk``/``sk``):

=============  =====================================  ====================================================
item           pk                                     sk
=============  =====================================  ====================================================
latest         ``ACCOUNTS``                           ``<provider>#<account>#balance``
alert state    ``ACCOUNTS``                           ``<provider>#<account>#alert``
history        ``HISTORY#<provider>#<account>``       ``fetched_at`` (expires through ``expires_at``)
thresholds     ``CONFIG``                             ``thresholds`` (the last good document)
config alert   ``CONFIG``                             ``thresholds#alert``
sent alert     ``ALERTS``, ``ALERTS#<provider>``      ``<alert id>`` (expires through ``expires_at``)
               and ``ALERTS#<provider>#<account>``
=============  =====================================  ====================================================

Every per-account item shares the ``ACCOUNTS`` partition, so listing every balance with its alert
state is one Query. Items carry a ``kind`` (``balance``, ``alert``, ``history``, ``config``...): the
aggregator's stream trigger admits only ``balance`` items, so its own writes never trigger it. Each
sent alert is written to three partitions, so GET /alerts reads all, a provider's or an account's
alerts newest first with one Query.

Values cross this boundary typed (:mod:`credit_monitor.model`): a :class:`BalanceItem`, an
:class:`AlertState`, an :class:`AccountSnapshot`, a :class:`HistoryReading`.
"""

from credit_monitor.storage.alerts import AlertStore, SentAlertLog, SentAlertPage
from credit_monitor.storage.balances import BalanceStore, HistoryReadingPage
from credit_monitor.storage.config import ConfigStore

__all__ = ["AlertStore", "BalanceStore", "ConfigStore", "HistoryReadingPage", "SentAlertLog", "SentAlertPage"]
