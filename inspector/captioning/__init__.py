"""Captions and defect types for flagged parts: BLIP-2, BLIP base, or none, behind one protocol.

Importing this package does not import torch: models load on the caption thread, on first use.
"""

from inspector.captioning.base import CaptionCancelled, Captioner, CaptionResult, NoCaptioner, ResultStatus
from inspector.captioning.blip import Blip2Captioner, BlipCaptioner
from inspector.captioning.defect_type import DefectTypeClassifier, DefectTypeResult, clip_of_detector
from inspector.captioning.factory import (
    CAPTIONER_CHOICES,
    DEFAULT_CAPTIONER,
    LIGHT_CAPTIONER,
    NO_CAPTIONER,
    create_caption_scheduler,
    create_captioner,
)
from inspector.captioning.gate import ScoringGate
from inspector.captioning.process import ProcessCaptioner, process_isolation_available
from inspector.captioning.regions import Box, Region, RegionCrop, RegionOptions, region_crop
from inspector.captioning.scheduler import (
    CaptionOutcome,
    CaptionScheduler,
    FlaggedPart,
    store_callback,
)
from inspector.captioning.text import CaptionPrompt

__all__ = [
    "CAPTIONER_CHOICES",
    "DEFAULT_CAPTIONER",
    "LIGHT_CAPTIONER",
    "NO_CAPTIONER",
    "Blip2Captioner",
    "BlipCaptioner",
    "Box",
    "CaptionCancelled",
    "CaptionOutcome",
    "CaptionPrompt",
    "CaptionResult",
    "CaptionScheduler",
    "Captioner",
    "DefectTypeClassifier",
    "DefectTypeResult",
    "FlaggedPart",
    "NoCaptioner",
    "ProcessCaptioner",
    "Region",
    "RegionCrop",
    "RegionOptions",
    "ResultStatus",
    "ScoringGate",
    "clip_of_detector",
    "create_caption_scheduler",
    "create_captioner",
    "process_isolation_available",
    "region_crop",
    "store_callback",
]
