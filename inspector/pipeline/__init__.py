"""The headless inspection pipeline: source -> detector -> verdict -> store, on worker threads."""

from inspector.pipeline.events import FlaggedPart, PartResult, PartStatus, RunSummary
from inspector.pipeline.runner import InspectionPipeline, fit_for_recipe

__all__ = ["FlaggedPart", "InspectionPipeline", "PartResult", "PartStatus", "RunSummary", "fit_for_recipe"]
