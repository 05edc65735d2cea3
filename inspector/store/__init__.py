"""The inspection-record store: SQLite (or PostgreSQL) via SQLAlchemy 2.0, plus artifact files.

Import from here; ORM models stay inside the package. No Qt, no torch.
"""

from inspector.store.artifacts import ArtifactStore, sha256_bytes, sha256_file
from inspector.store.domain import (
    AddResult,
    CaptionCorrectionRecord,
    CaptionStatus,
    InspectionFilter,
    InspectionRecord,
    NewInspection,
    OperatorRecord,
    Order,
    OverrideKind,
    OverrideRecord,
    RecipeVersionRecord,
    RunOutcome,
    RunRecord,
    SkipRecord,
    Verdict,
    VerdictCounts,
)
from inspector.store.engine import Database, default_database_path, open_database
from inspector.store.errors import (
    DatabaseCorruptError,
    DatabaseLockedError,
    DatabaseReplacedError,
    DiskFullError,
    NotFoundError,
    ReadOnlyError,
    SchemaTooNewError,
    ServerUnreachableError,
    StoreError,
)
from inspector.store.models import SCHEMA_VERSION
from inspector.store.repository import InspectionStore, open_store
from inspector.store.writer import StoreWriter

__all__ = [
    "SCHEMA_VERSION",
    "AddResult",
    "ArtifactStore",
    "CaptionCorrectionRecord",
    "CaptionStatus",
    "Database",
    "DatabaseCorruptError",
    "DatabaseLockedError",
    "DatabaseReplacedError",
    "DiskFullError",
    "InspectionFilter",
    "InspectionRecord",
    "InspectionStore",
    "NewInspection",
    "NotFoundError",
    "ServerUnreachableError",
    "OperatorRecord",
    "Order",
    "OverrideKind",
    "OverrideRecord",
    "ReadOnlyError",
    "RecipeVersionRecord",
    "RunOutcome",
    "RunRecord",
    "SchemaTooNewError",
    "SkipRecord",
    "StoreError",
    "StoreWriter",
    "Verdict",
    "VerdictCounts",
    "default_database_path",
    "open_database",
    "open_store",
    "sha256_bytes",
    "sha256_file",
]
