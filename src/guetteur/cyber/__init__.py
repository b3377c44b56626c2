"""Cyber: alert and event readers, Sigma rules, ATT&CK mapping, incidents.

Readers turn sensor output into `guetteur.model.alert` records: Suricata EVE
(`read_eve`) and Windows event logs (`read_windows_events`). Sigma rules
(`load_rules`) run over Windows events and raise alerts; the ATT&CK catalogue
(`load_catalogue`) and `TechniqueMapper` map rule tags and prose to techniques.
Storing alerts and clustering them into incidents comes next (issue 5).
"""

from guetteur.cyber.attack import (
    Catalogue,
    Tactic,
    Technique,
    TechniqueMapper,
    explicit_technique_ids,
    load_catalogue,
)
from guetteur.cyber.eve import read_eve, read_eve_records
from guetteur.cyber.sigma import RuleSet, SigmaRule, load_rule, load_rules
from guetteur.cyber.winevents import read_windows_events

__all__ = [
    "Catalogue",
    "RuleSet",
    "SigmaRule",
    "Tactic",
    "Technique",
    "TechniqueMapper",
    "explicit_technique_ids",
    "load_catalogue",
    "load_rule",
    "load_rules",
    "read_eve",
    "read_eve_records",
    "read_windows_events",
]
