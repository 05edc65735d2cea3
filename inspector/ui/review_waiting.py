"""How many parts the station queued for review on its own, and why (the review screen's counter)."""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton

from inspector.core.review_sampling import REASON_TEXT, ReviewReason

#: The review filter's value for "queued by the station and not reviewed yet".
TO_REVIEW = "to_review"


class WaitingLabel(QPushButton):
    """``12 waiting for review: 3 uncertain, 7 near threshold, 2 sample``; a click shows them."""

    def __init__(self) -> None:
        super().__init__("")
        self.setFlat(True)
        self.setObjectName("waitingForReview")
        self.setStyleSheet("QPushButton#waitingForReview { font-weight: 700; padding: 2px 8px; }")
        self.setToolTip(
            "Parts the station queued for review on its own and nobody reviewed yet:\n"
            + "\n".join(f"  {reason.value}: {text}" for reason, text in REASON_TEXT.items())
            + "\nClick to list them."
        )
        self.counts: dict[str, int] = {}
        self.set_counts({})

    def set_counts(self, counts: dict[str, int]) -> None:
        self.counts = dict(counts)
        total = sum(counts.values())
        order = [r.value for r in ReviewReason] + sorted(set(counts) - {r.value for r in ReviewReason})
        parts = [f"{counts[k]:,} {k}" for k in order if counts.get(k)]
        self.setText(f"{total:,} waiting for review: " + ", ".join(parts) if total else "Nothing waiting for review")
        self.setEnabled(bool(total))
