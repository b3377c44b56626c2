"""Products: what guetteur derives for a reader, each with its own marking."""

from guetteur.products.incidents import IncidentView, incidents_for

__all__ = ["IncidentView", "incidents_for"]
