"""guetteur: sovereign, air-gapped intelligence fusion for defence staffs."""

from guetteur._exceptions import (
    AuditChainError,
    GazetteerError,
    GuetteurError,
    IngestError,
    LexiconError,
    MarkingError,
    MissingDependencyError,
    NoMarkingError,
    NotFoundError,
    UnknownUserError,
    WorkspaceError,
)

__version__ = "0.1.0"

__all__ = [
    "AuditChainError",
    "GazetteerError",
    "GuetteurError",
    "IngestError",
    "LexiconError",
    "MarkingError",
    "MissingDependencyError",
    "NoMarkingError",
    "NotFoundError",
    "UnknownUserError",
    "WorkspaceError",
    "__version__",
]
