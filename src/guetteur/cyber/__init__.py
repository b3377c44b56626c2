"""Cyber: alert and event readers, Sigma rules, ATT&CK mapping, incidents.

Readers turn sensor output into `guetteur.model.alert` records: Suricata EVE
(`read_eve`) and Windows event logs (`read_windows_events`).
"""

from guetteur.cyber.eve import read_eve, read_eve_records
from guetteur.cyber.winevents import read_windows_events

__all__ = ["read_eve", "read_eve_records", "read_windows_events"]
