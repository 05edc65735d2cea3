"""The caption process: the captioner and the defect-type classifier on the main thread of a child.

Started by :class:`~inspector.captioning.process.ProcessCaptioner` as
``python -m inspector.captioning._child FD GATE_PATH PARENT_PID``: ``FD`` is its end of a socket
pair to the station, ``GATE_PATH`` the scoring gate's control block. The first message is a
:class:`WorkerConfig`; then requests, one at a time, each answered with one reply:

* ``("load", job)`` -> ``("ok", job, {"device": ..., "dtype": ...})``
* ``("caption", job, image, prompt_text, prompt_lead)`` -> ``("ok", job, CaptionResult)``
* ``("classify", job, image, object_name, classes)`` -> ``("ok", job, DefectTypeResult | None)``
* ``("stop",)`` -> the process exits.

A failure answers ``("error", job, kind, message)`` (``kind``: ``weights_missing``, ``inspector``
or the exception's type name); a job cancelled through the control block answers
``("cancelled", job)``. Before every transformer layer the model waits while the station scores
(the gate) and checks for cancellation. The process exits by itself when the station is gone.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any

from inspector.core.threads import lower_thread_priority

log = logging.getLogger("inspector.captioning.worker")


@dataclass(frozen=True)
class WorkerConfig:
    """What the caption process builds (all picklable; nothing is loaded until asked).

    Attributes:
        captioner_class: ``Blip2Captioner``, ``BlipCaptioner`` or ``NoCaptioner``.
        spec: The captioner's registry spec (None for ``NoCaptioner``).
        captioner_kwargs: Its constructor arguments (device, dtype, generation options, ...).
        classifier_kwargs: :class:`~inspector.captioning.defect_type.DefectTypeClassifier` arguments,
            or None for no defect types.
        nice: Lower the process's OS priority by this much (0: leave it).
    """

    captioner_class: str
    spec: Any = None
    captioner_kwargs: dict[str, Any] = field(default_factory=dict)
    classifier_kwargs: dict[str, Any] | None = None
    nice: int = 10


class _Worker:
    def __init__(self, config: WorkerConfig, gate, parent_pid: int):
        from inspector.captioning import blip
        from inspector.captioning.base import NoCaptioner

        self.gate = gate
        self.parent_pid = parent_pid
        if config.captioner_class == "NoCaptioner":
            self.captioner = NoCaptioner()
        else:
            cls = getattr(blip, config.captioner_class)
            self.captioner = cls(config.spec, **config.captioner_kwargs)
        self.classifier = None
        if config.classifier_kwargs is not None:
            from inspector.captioning.defect_type import DefectTypeClassifier

            self.classifier = DefectTypeClassifier(**config.classifier_kwargs)

    def _orphaned(self) -> bool:
        return os.getppid() != self.parent_pid

    def _checkpoint(self, job: int):
        from inspector.captioning.base import CaptionCancelled

        def checkpoint() -> None:
            stop = lambda: self.gate.cancel_requested(job) or self._orphaned()  # noqa: E731
            self.gate.wait_turn(stop)
            if stop():
                raise CaptionCancelled("cancelled")

        return checkpoint

    def handle(self, message: tuple) -> tuple:
        kind, job = message[0], message[1]
        if kind == "load":
            self.captioner.load()
            runtime = getattr(self.captioner, "runtime", None)
            return ("ok", job, {"device": getattr(runtime, "device", "cpu"), "dtype": getattr(runtime, "dtype", "")})
        if kind == "caption":
            from inspector.captioning.text import CaptionPrompt

            _, _, image, text, lead = message
            result = self.captioner.caption(image, CaptionPrompt(text, lead), checkpoint=self._checkpoint(job))
            return ("ok", job, result)
        if kind == "classify":
            _, _, image, object_name, classes = message
            if self.classifier is None:
                return ("ok", job, None)
            self._checkpoint(job)()
            return ("ok", job, self.classifier.classify(image, object_name, classes))
        return ("error", job, "inspector", f"unknown request '{kind}'")


def _reply_for_error(job: int, error: BaseException) -> tuple:
    from inspector.captioning.base import CaptionCancelled
    from inspector.errors import InspectorError, WeightsMissingError

    if isinstance(error, CaptionCancelled):
        return ("cancelled", job)
    if isinstance(error, WeightsMissingError):
        return ("error", job, "weights_missing", str(error))
    if isinstance(error, InspectorError):
        return ("error", job, "inspector", str(error))
    traceback.print_exception(error, file=sys.stderr)
    return ("error", job, type(error).__name__, str(error))


def main(argv: list[str] | None = None) -> int:
    from multiprocessing.connection import Connection

    from inspector.captioning.gate import SharedGateView

    argv = sys.argv[1:] if argv is None else argv
    fd, gate_path, parent_pid = int(argv[0]), argv[1], int(argv[2])
    logging.basicConfig(level=logging.WARNING, format="caption process: %(levelname)s %(message)s")
    conn = Connection(fd)
    gate = SharedGateView(gate_path)
    try:
        config: WorkerConfig = conn.recv()
        lower_thread_priority(config.nice, relative=True)  # before torch starts its threads: they inherit it
        worker = _Worker(config, gate, parent_pid)
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return 0  # the station is gone
            if message[0] == "stop":
                return 0
            try:
                reply = worker.handle(message)
            except BaseException as error:  # every request gets its reply
                reply = _reply_for_error(message[1], error)
            try:
                conn.send(reply)
            except (BrokenPipeError, OSError):
                return 0
    finally:
        gate.close()
        conn.close()
