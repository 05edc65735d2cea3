"""The OPC UA face of one ``inspector run``: the line reads the run's state and each part's result.

``inspector run`` inspects one source with one recipe until it ends, so here the OPC UA methods can
do what the command line can: ``Stop`` ends the run (as Ctrl-C does), ``SelectRecipe`` accepts only
the run's recipe and ``StartContinuous`` is already done; ``StartSingleJob`` (a trigger) is refused
with the reason (a station driven part by part by the PLC is the window's, or a service's, job).
The results and the run state reach the server through the session's notifications
(:meth:`~inspector.plant.link.PlantLink.follow`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from inspector.errors import InspectorError

if TYPE_CHECKING:
    from inspector.pipeline.notifications import Notification
    from inspector.pipeline.session import StationSession


class RunControl:
    """:class:`~inspector.plant.opcua.StationControl` for a session driven by the command line."""

    def __init__(self, session: StationSession, recipe: str | None = None) -> None:
        from inspector.pipeline.notifications import RunState, RunStateChanged

        self.session = session
        self.recipe = recipe
        self._running = False
        self._lock = threading.Lock()
        self._live = (RunState.STARTING, RunState.LOADING, RunState.RUNNING)

        def on_state(note: Notification) -> None:
            assert isinstance(note, RunStateChanged)
            with self._lock:
                self.recipe = note.recipe
                self._running = note.state in self._live

        self.subscription = session.subscribe(on_state, RunStateChanged)

    @property
    def running(self) -> bool:
        with self._lock:
            return self._running

    def recipe_names(self) -> list[str]:
        return [self.recipe] if self.recipe else []

    def select_recipe(self, name: str) -> None:
        if name != self.recipe:
            raise InspectorError(
                f"This station runs 'inspector run' with the recipe '{self.recipe}': it cannot switch to "
                f"'{name}' (stop the run and start it with that recipe)."
            )

    def start(self) -> None:
        if not self.running:
            raise InspectorError("The 'inspector run' of this station has ended: start it again on the station.")

    def stop(self) -> None:
        self.session.stop()

    def trigger(self) -> str:
        raise InspectorError(
            "This station inspects continuously ('inspector run'): single-part triggers are not taken."
        )

    def close(self) -> None:
        self.subscription.cancel()
