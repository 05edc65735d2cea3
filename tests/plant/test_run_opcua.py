"""``inspector run`` with the plant settings' OPC UA block: a real asyncua client reads the run's
state and each stored part's result while the run watches a hot folder, then stops it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from inspector.plant.opcua import NAMESPACE
from inspector.store import open_store
from tests.helpers import write_parts
from tests.pipeline.test_run_cli import _recipe
from tests.plant.test_opcua import _endpoint

pytestmark = pytest.mark.opcua
DEADLINE_S = 600


async def _until(read, wanted, what: str, process):
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"inspector run ended (exit {process.returncode}) while waiting for {what}")
        try:
            value = await read()
            if wanted(value):
                return value
        except Exception:  # the server is not up yet (the session opens first)
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {what} within {DEADLINE_S} s")


def test_run_serves_opc_ua_results_and_state_and_stops_on_the_plc_s_stop(tmp_path, tiny_registry):
    from asyncua import Client, ua

    data, hot = tmp_path / "data", tmp_path / "hot"
    data.mkdir()
    hot.mkdir()
    endpoint = _endpoint()
    opcua = {"endpoint": endpoint, "users": {"plc": "s3cret"}}
    (data / "plant.json").write_text(json.dumps({"station_id": "line7-cam3", "opcua": opcua}))
    cmd = [
        sys.executable, "-m", "inspector", "run", "--recipe", str(_recipe(tmp_path)), "--source", str(hot),
        "--watch", "--random-weights", "--device", "cpu", "-q",
    ]  # fmt: skip
    process = subprocess.Popen(
        cmd, env=dict(os.environ, INSPECTOR_DATA_DIR=str(data)), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:

        async def plc():
            client = Client(endpoint)
            client.set_user("plc")
            client.set_password("s3cret")

            async def connect():
                await client.connect()
                return True

            await _until(connect, bool, "the OPC UA server", process)
            try:
                idx = await client.get_namespace_index(NAMESPACE)
                system = await client.nodes.objects.get_child(f"{idx}:InspectorVisionSystem")
                state = await system.get_child(f"{idx}:SystemState")
                await _until(state.read_value, lambda v: v == "Running", "SystemState Running", process)
                recipe = await (await system.get_child(f"{idx}:CurrentRecipe")).read_value()
                with pytest.raises(ua.UaStatusCodeError):
                    await system.call_method(f"{idx}:StartSingleJob")  # continuous run: refused
                message = await (await system.get_child(f"{idx}:ErrorMessage")).read_value()
                write_parts(hot, 3)
                counter = await system.get_child([f"{idx}:LastResult", f"{idx}:Counter"])
                await _until(counter.read_value, lambda v: v >= 3, "3 results", process)
                part = await (await system.get_child([f"{idx}:LastResult", f"{idx}:PartId"])).read_value()
                verdict = await (await system.get_child([f"{idx}:LastResult", f"{idx}:Verdict"])).read_value()
                await system.call_method(f"{idx}:Stop")  # ends the run as Ctrl-C does
                return recipe, message, part, verdict
            finally:
                await client.disconnect()

        recipe, message, part, verdict = asyncio.run(plc())
        _out, err = process.communicate(timeout=DEADLINE_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    err = err.decode()
    assert process.returncode in (0, 1, 130), err
    assert f"OPC UA: serving {endpoint}" in err, err
    assert "single-part triggers are not taken" in message
    with open_store(data / "inspector.db") as store:
        records = store.query(limit=10)
        assert len(records) == 3 and recipe == records[0].recipe_name
        newest = max(records, key=lambda r: r.inspected_at)
        assert part in {r.id for r in records}
        assert verdict == store.get(part).model_verdict.value
        assert newest.id == part or store.get(part).inspected_at == newest.inspected_at
