"""Captions in a child process: same protocol, own memory, own OpenMP runtime.

Why a process and not a thread, on a CPU station: every thread that runs torch operations gets its
own OpenMP thread pool, and once two pools exist in one process with more pool threads than cores
(an inference thread and a caption thread on a 2-core machine), libgomp stops spin-waiting in
every pool, so each small operation costs a sleep and a wake-up, even while the caption thread
waits at the gate. Measured on the development machine (AnomalyDINO scoring on an inference
thread, BLIP base captions, ``tests/bench/bench_captions.py throughput``): with a caption thread
scoring kept 78-81% of its throughput and captions took 1.2-1.3 s; with a caption process 99-104%
and 0.82-0.88 s. A child process has its own runtime and runs the model on its main thread.
The child also isolates the station from the captioner's memory (BLIP-2 needs ~7.5 GiB in bf16:
running out kills the child, not the station), and a caption that does not stop can be killed.

:class:`ProcessCaptioner` implements the :class:`~inspector.captioning.base.Captioner` protocol
for the :class:`~inspector.captioning.scheduler.CaptionScheduler`; its :meth:`~ProcessCaptioner.classifier`
is the defect-type classifier in the same child (it loads its own copy of the CLIP model). The
child sees the scheduler's :class:`~inspector.captioning.gate.ScoringGate` through a shared control
block, waits while the station scores, and stops a job it is asked to cancel at its next layer.
POSIX only (the child inherits its socket); elsewhere use the in-process captioners.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from inspector.captioning.base import CaptionCancelled, CaptionResult, Checkpoint, NoCaptioner
from inspector.captioning.gate import ScoringGate
from inspector.captioning.text import CaptionPrompt
from inspector.captioning.worker import WorkerConfig
from inspector.errors import InspectorError, WeightsMissingError

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

log = logging.getLogger(__name__)

POLL_S = 0.02
MAX_DEATHS = 3
REAP_TIMEOUT_S = 30.0  # how long a child whose pipe closed may take to be reported dead


def process_isolation_available() -> bool:
    """Whether captions can run in a child process here (POSIX, not a frozen application)."""
    return os.name == "posix" and not getattr(sys, "frozen", False)


class CaptionProcessError(RuntimeError):
    """The caption process failed (``kind`` is the failure as the operator reads it)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class ProcessCaptioner:
    """A captioner (and optionally the defect-type classifier) running in a child process.

    Args:
        template: The in-process captioner to run in the child (not loaded here: only its class,
            spec and settings travel), or a :class:`NoCaptioner` for defect types only.
        classifier: A defect-type classifier whose settings the child uses to load its own copy.
        gate: The scoring gate the child waits on (the scheduler attaches its own when None).
        nice: Lower the child's OS priority by this much.
        start_timeout_s: Longest wait for the child to answer a load request.
        cancel_grace_s: How long a cancelled job may take to stop before the child is killed.
    """

    def __init__(
        self,
        template,
        classifier=None,
        *,
        gate: ScoringGate | None = None,
        nice: int = 10,
        start_timeout_s: float = 600.0,
        cancel_grace_s: float = 10.0,
    ):
        if not process_isolation_available():
            raise InspectorError(
                "Captions in a separate process need a POSIX system and a Python install "
                "(not a frozen application); use the in-process captioner."
            )
        self.template = template
        self.model_id = template.model_id
        self.random_weights = bool(getattr(template, "random_weights", False))
        if isinstance(template, NoCaptioner):
            captioner_class, spec, kwargs = "NoCaptioner", None, {}
        else:
            captioner_class, spec, kwargs = type(template).__name__, template.spec, dict(template.init_kwargs)
        self._config = WorkerConfig(
            captioner_class=captioner_class,
            spec=spec,
            captioner_kwargs=kwargs,
            classifier_kwargs=classifier.rebuild_args() if classifier is not None else None,
            nice=int(nice),
        )
        self.classifier_model_id = classifier.model_id if classifier is not None else None
        self.gate = gate
        self.start_timeout_s = float(start_timeout_s)
        self.cancel_grace_s = float(cancel_grace_s)
        self._lock = threading.RLock()
        self._jobs = itertools.count(1)
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._loaded = False
        self._deaths = 0
        self._broken: str | None = None
        self._own_gate: ScoringGate | None = None
        self.runtime_info: dict[str, str] = {}

    # -- the Captioner protocol -------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._loaded and self._alive()

    def attach_gate(self, gate: ScoringGate) -> None:
        """Use the scheduler's gate (called by :class:`~inspector.captioning.scheduler.CaptionScheduler`)."""
        if self.gate is None:
            self.gate = gate

    def prompt_for(self, object_name: str, defect_classes=()) -> CaptionPrompt:
        return self.template.prompt_for(object_name, defect_classes)

    def load(self) -> None:
        """Start the child and load the captioner there (blocks until it is loaded or fails)."""
        with self._lock:
            if self.loaded:
                return
            spec = self._config.spec
            if spec is not None and spec.config is None and not self.random_weights and spec.weights_location() is None:
                raise spec.missing_weights_error()  # said at once, without starting a process for it
            self.runtime_info = self._request(("load",), None, timeout_s=self.start_timeout_s, loading=True)
            self._loaded = True

    def caption(
        self, image: np.ndarray, prompt: CaptionPrompt | str, *, checkpoint: Checkpoint | None = None
    ) -> CaptionResult:
        if isinstance(prompt, str):
            prompt = CaptionPrompt(prompt)
        self.load()
        return self._request(("caption", np.ascontiguousarray(image), prompt.text, prompt.lead), checkpoint)

    def classify(self, image: np.ndarray, object_name: str, classes, *, checkpoint: Checkpoint | None = None):
        """The defect type, computed in the child (None without classes or without a classifier)."""
        if self._config.classifier_kwargs is None or not classes:
            return None
        self.load()
        return self._request(("classify", np.ascontiguousarray(image), object_name, tuple(classes)), checkpoint)

    def classifier(self) -> _ProcessClassifier | None:
        """The defect-type classifier running in this child, for the scheduler (None if none was given)."""
        return _ProcessClassifier(self) if self._config.classifier_kwargs is not None else None

    def close(self) -> None:
        """Stop the child (it also exits by itself when the station exits)."""
        with self._lock:
            self._stop_child()
            if self._own_gate is not None:
                self._own_gate.close()

    # -- the child ----------------------------------------------------------------------------------
    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _start_child(self) -> None:
        from multiprocessing.connection import Connection

        if self.gate is None:  # used without a scheduler: a gate of its own, removed at close()
            self.gate = ScoringGate()
            self._own_gate = self.gate
        gate_path = self.gate.share()
        parent_sock, child_sock = socket.socketpair()
        try:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "inspector.captioning._child",
                    str(child_sock.fileno()),
                    gate_path,
                    str(os.getpid()),
                ],
                pass_fds=(child_sock.fileno(),),
                stdin=subprocess.DEVNULL,
                close_fds=True,
            )  # the child imports inspector as this interpreter does (installed or editable): no PYTHONPATH
        finally:
            child_sock.close()
        self._conn = Connection(parent_sock.detach())
        self._conn.send(self._config)
        log.info("caption process %d started for %s", self._proc.pid, self.model_id)

    def _stop_child(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc, self._conn, self._loaded = None, None, False
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(("stop",))
        if proc is not None:
            try:
                proc.wait(5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)
        if conn is not None:
            conn.close()

    def _died(self, loading: bool) -> CaptionProcessError:
        code = self._exit_code()
        self._stop_child()
        self._deaths += 1
        why = "killed - probably out of memory" if code in (-9, 137) else f"exit code {code}"
        message = f"the caption process stopped unexpectedly ({why})"
        if loading or self._deaths >= MAX_DEATHS:
            self._broken = (
                f"{message} {'while loading' if loading else f'{self._deaths} times'}; captions stay "
                "off until the captioner is restarted (choose it again, or restart the station)"
            )
        return CaptionProcessError("caption process", message)

    def _exit_code(self) -> int | None:
        """The dead child's exit code. Its pipe closes before the kernel reports the exit, so wait
        for the child to be reaped (a loaded machine can take a while) rather than read it at once."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(REAP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return None  # still running with its pipe closed: _stop_child kills it

    def _request(
        self, payload: tuple, checkpoint: Checkpoint | None, timeout_s: float | None = None, loading: bool = False
    ) -> Any:
        with self._lock:
            if self._broken is not None:
                raise InspectorError(self._broken)
            if not self._alive():
                self._loaded = False
                self._start_child()
                if not loading:  # a restarted child loads first
                    self._request(("load",), None, timeout_s=self.start_timeout_s, loading=True)
                    self._loaded = True
            job = next(self._jobs)
            conn = self._conn
            assert conn is not None  # a live child has its connection (_start_child)
            try:
                conn.send((payload[0], job, *payload[1:]))
            except OSError:
                raise self._died(loading) from None
            deadline = None if timeout_s is None else time.monotonic() + timeout_s
            while True:
                try:
                    if conn.poll(POLL_S):
                        reply = conn.recv()
                        break
                except (EOFError, OSError):
                    raise self._died(loading) from None
                if not self._alive():
                    raise self._died(loading)
                if deadline is not None and time.monotonic() > deadline:
                    self._stop_child()
                    raise InspectorError(f"The caption process did not answer within {timeout_s:g} s.")
                if checkpoint is not None:
                    try:
                        checkpoint()
                    except CaptionCancelled:
                        self._cancel(conn, job)
                        raise
            return self._unpack(job, reply)

    def _cancel(self, conn: Connection, job: int) -> None:
        """Stop the child's job at its next layer; kill the child if it does not stop in time."""
        assert self.gate is not None  # _start_child gives the child a gate
        self.gate.cancel_job(job)
        deadline = time.monotonic() + self.cancel_grace_s
        try:
            while time.monotonic() < deadline:
                if conn.poll(POLL_S):
                    reply = conn.recv()
                    if reply[1] == job:
                        return
        except (EOFError, OSError):
            pass
        log.warning("caption process did not stop job %d in %.0f s: killing it", job, self.cancel_grace_s)
        self._stop_child()

    @staticmethod
    def _unpack(job: int, reply: tuple) -> Any:
        kind = reply[0]
        if reply[1] != job:
            raise CaptionProcessError("caption process", f"answer to job {reply[1]} received for job {job}")
        if kind == "ok":
            return reply[2]
        if kind == "cancelled":
            raise CaptionCancelled("cancelled")
        error_kind, message = reply[2], reply[3]
        if error_kind == "weights_missing":
            raise WeightsMissingError(message)
        if error_kind == "inspector":
            raise InspectorError(message)
        raise CaptionProcessError(error_kind, message)


class _ProcessClassifier:
    """The defect-type classifier in a :class:`ProcessCaptioner`'s child, as the scheduler uses it."""

    def __init__(self, owner: ProcessCaptioner):
        self._owner = owner
        self.model_id = owner.classifier_model_id

    @property
    def loaded(self) -> bool:
        return self._owner.loaded

    def load(self) -> None:
        self._owner.load()

    def classify(self, image: np.ndarray, object_name: str, classes):
        return self._owner.classify(image, object_name, classes)
