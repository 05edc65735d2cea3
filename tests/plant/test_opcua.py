"""The OPC UA face with a real asyncua client: log in, select a recipe, trigger, read, subscribe."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading

import pytest

from inspector.errors import InspectorError
from inspector.plant.opcua import NAMESPACE, OpcUaError, OpcUaServer, OpcUaSettings, PartResult
from inspector.store import open_store
from tests.store.conftest import make_items

pytestmark = pytest.mark.opcua


def _endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"opc.tcp://127.0.0.1:{port}/inspector/"


class StoreControl:
    """Drives a real store: a trigger stores one inspection under the selected recipe and reports it
    to the server, as the station session does after each stored part."""

    def __init__(self, store, server_ref: list) -> None:
        self.store, self.server_ref = store, server_ref
        self.recipe = None
        self.running = False
        self.n = 0

    def recipe_names(self) -> list[str]:
        return self.store.recipe_names()

    def select_recipe(self, name: str) -> None:
        versions = self.store.recipe_versions(name)
        if not versions:
            raise InspectorError(f"There is no recipe called '{name}' on this station.")
        self.recipe = versions[-1]

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def trigger(self) -> str:
        if self.recipe is None:
            raise InspectorError("Select a recipe before triggering an inspection.")
        item = make_items(1, self.recipe.id, start=self.n)[0]
        if self.n % 2:  # every second part is another part on the line (the identity check)
            item = dataclasses.replace(item, wrong_part=True, identity_score=0.1, identity_reason="looks like a gear")
        self.n += 1
        part_id = self.store.add_inspections([item]).ids[0]
        record = self.store.get(part_id)
        self.server_ref[0].publish_result(
            PartResult(
                part_id,
                record.model_verdict.value,
                record.score,
                record.threshold,
                record.inspected_at,
                wrong_part=bool(record.wrong_part),
            )
        )
        return part_id


@pytest.fixture
def station(tmp_path):
    store = open_store(tmp_path / "st" / "inspector.db", station="cam-9")
    store.save_recipe_version("bracket-A", {"object": "bracket"})
    store.save_recipe_version("gear-B", {"object": "gear"})
    yield store
    store.close()


def _run(coro):
    return asyncio.run(coro)


def test_select_trigger_read_and_subscribe(station):
    ref: list = []
    control = StoreControl(station, ref)
    settings = OpcUaSettings(endpoint=_endpoint(), users={"plc": "s3cret"})
    server = OpcUaServer(settings, control, station="cam-9").start()
    ref.append(server)
    try:

        async def client_session():
            from asyncua import Client, ua

            client = Client(settings.endpoint)
            client.set_user("plc")
            client.set_password("s3cret")
            async with client:
                idx = await client.get_namespace_index(NAMESPACE)
                system = await client.nodes.objects.get_child(f"{idx}:InspectorVisionSystem")
                assert await (await system.get_child(f"{idx}:SystemState")).read_value() == "Ready"
                recipes = await (await system.get_child(f"{idx}:Recipes")).read_value()
                assert recipes == ["bracket-A", "gear-B"]

                counter = await system.get_child([f"{idx}:LastResult", f"{idx}:Counter"])
                seen: list[int] = []
                changed = asyncio.Event()

                class Handler:
                    def datachange_notification(self, node, val, data):
                        seen.append(val)
                        if val >= 2:
                            changed.set()

                sub = await client.create_subscription(50, Handler())
                await sub.subscribe_data_change(counter)

                with pytest.raises(ua.UaStatusCodeError):
                    await system.call_method(f"{idx}:StartSingleJob")  # no recipe yet: refused
                message = await (await system.get_child(f"{idx}:ErrorMessage")).read_value()
                assert "Select a recipe" in message
                with pytest.raises(ua.UaStatusCodeError):
                    await system.call_method(f"{idx}:SelectRecipe", ua.Variant("nope", ua.VariantType.String))
                await system.call_method(f"{idx}:SelectRecipe", ua.Variant("gear-B", ua.VariantType.String))
                assert await (await system.get_child(f"{idx}:CurrentRecipe")).read_value() == "gear-B"
                await system.call_method(f"{idx}:StartContinuous")
                assert await (await system.get_child(f"{idx}:SystemState")).read_value() == "Running"

                part1 = await system.call_method(f"{idx}:StartSingleJob")
                part2 = await system.call_method(f"{idx}:StartSingleJob")
                await asyncio.wait_for(changed.wait(), 60)
                last = await system.get_child(f"{idx}:LastResult")
                values = {
                    name: await (await last.get_child(f"{idx}:{name}")).read_value()
                    for name in ("PartId", "Verdict", "Score", "Threshold", "WrongPart")
                }
                await system.call_method(f"{idx}:Stop")
                state = await (await system.get_child(f"{idx}:SystemState")).read_value()
                await sub.delete()
                return part1, part2, values, seen, state

        part1, part2, values, seen, state = _run(client_session())
    finally:
        server.stop()
    record = station.get(part2)
    assert station.get(part1).recipe_version_id == station.recipe_versions("gear-B")[-1].id
    assert values == {
        "PartId": part2,
        "Verdict": record.model_verdict.value,
        "Score": pytest.approx(record.score),
        "Threshold": pytest.approx(record.threshold),
        "WrongPart": True,  # the PLC diverts it
    }
    assert seen[-1] == 2 and state == "Ready"


def test_logins_anonymous_only_when_enabled(station):
    control = StoreControl(station, [])
    with pytest.raises(OpcUaError, match="no way to log in"):
        OpcUaServer(OpcUaSettings(endpoint=_endpoint()), control, station="cam-9")

    async def connect(endpoint: str, user: str | None, password: str | None) -> str:
        from asyncua import Client

        client = Client(endpoint)
        if user:
            client.set_user(user)
            client.set_password(password)
        try:
            async with client:
                return "connected"
        except Exception as error:  # asyncua raises its status errors or a closed connection
            return f"refused: {type(error).__name__}"

    closed = OpcUaServer(OpcUaSettings(endpoint=_endpoint(), users={"plc": "pw"}), control, station="cam-9").start()
    try:
        assert _run(connect(closed.endpoint, None, None)).startswith("refused")
        assert _run(connect(closed.endpoint, "plc", "wrong")).startswith("refused")
        assert _run(connect(closed.endpoint, "plc", "pw")) == "connected"
    finally:
        closed.stop()
    open_ = OpcUaServer(OpcUaSettings(endpoint=_endpoint(), allow_anonymous=True), control, station="cam-9").start()
    try:
        assert _run(connect(open_.endpoint, None, None)) == "connected"
    finally:
        open_.stop()
    assert threading.active_count() < 50
