"""Errors the station reports to a person as a plain message (never as a traceback)."""

from __future__ import annotations

import sys
import traceback

#: Exit code of a command that ended in an error the station did not foresee (a bug): sysexits'
#: EX_SOFTWARE, apart from every documented code.
UNEXPECTED_EXIT_CODE = 70


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


def report_unexpected(exc: BaseException, *, verbose: bool = False) -> int:
    """Print one plain line for an unforeseen error (the traceback only with ``-v``); its exit code."""
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    print(
        f"inspector: unexpected error ({type(exc).__name__}{': ' + detail if detail else ''}). "
        "Nothing more was done; run the command again with -v for the details to report.",
        file=sys.stderr,
    )
    return UNEXPECTED_EXIT_CODE
