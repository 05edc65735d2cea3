"""The headless inspection pipeline and the station session around it (no Qt in this package)."""

from inspector.pipeline.captions import CaptionSink
from inspector.pipeline.events import PartResult, PartStatus, RunSummary
from inspector.pipeline.notifications import (
    CaptionStored,
    DetectorReady,
    Notification,
    Notifier,
    OverrideWritten,
    PartNotStored,
    PartStored,
    RecipeSaved,
    RunState,
    RunStateChanged,
    SourceStateChanged,
    StoreChanged,
    Subscription,
)
from inspector.pipeline.runner import InspectionPipeline, fit_for_recipe
from inspector.pipeline.session import RunRequest, SessionConfig, StationSession, open_session

__all__ = [
    "CaptionSink",
    "CaptionStored",
    "DetectorReady",
    "InspectionPipeline",
    "Notification",
    "Notifier",
    "OverrideWritten",
    "PartNotStored",
    "PartResult",
    "PartStatus",
    "PartStored",
    "RecipeSaved",
    "StoreChanged",
    "RunRequest",
    "RunState",
    "RunStateChanged",
    "RunSummary",
    "SessionConfig",
    "SourceStateChanged",
    "StationSession",
    "Subscription",
    "fit_for_recipe",
    "open_session",
]
