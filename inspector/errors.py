"""Errors the station reports to a person as a plain message (never as a traceback)."""

from __future__ import annotations


class InspectorError(Exception):
    """Base class: the message is written for the operator or engineer who sees it."""

    exit_code = 2


class WeightsMissingError(InspectorError):
    """A model's weights are not on this station."""

    exit_code = 3


class WeightsInvalidError(InspectorError):
    """Weights are on the station but are not the registered model's (wrong, damaged or incomplete)."""

    exit_code = 3


class RecipeError(InspectorError):
    """A recipe file cannot be read or is from a newer version of the station."""


class DatasetError(InspectorError):
    """A dataset folder is missing or not in MVTec AD layout."""


class SourceError(InspectorError):
    """A source cannot be opened or stopped working (the message is for the operator)."""

    exit_code = 4
