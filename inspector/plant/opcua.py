"""An OPC UA face for the line's PLC (asyncua): a small, documented subset of OPC 40100-1.

OPC UA for Machine Vision (OPC 40100-1) describes a vision system by a state machine, recipe
management and results. This server exposes the part of it a PLC needs to run a station, under
``Objects/InspectorVisionSystem`` in the namespace ``urn:inspector:machine-vision``:

=====================  ==========================  =================================================
Node                   Type                        Meaning
=====================  ==========================  =================================================
SystemState            String                      ``Ready`` / ``Running`` / ``Error`` (40100's
                                                   Operational-Ready, Operational-Executing, Error)
ErrorMessage           String                      the last error, in plain words ('' when none)
Station                String                      the station id
Recipes                String[]                    recipes the station can select
CurrentRecipe          String                      the selected recipe
LastResult/PartId      String                      the last part's id (the store's inspection id)
LastResult/Verdict     String                      ``pass`` / ``fail`` / ``uncertain``
LastResult/WrongPart   Boolean                     the part-identity check found another part on the
                                                   line (divert it; its score says nothing)
LastResult/Score       Double                      anomaly score (higher: more anomalous)
LastResult/Threshold   Double                      the recipe's threshold
LastResult/Time        DateTime                    when the part was inspected (UTC)
LastResult/Counter     Int64                       results since the server started (subscribe here)
SelectRecipe(name)     method                      40100 SelectRecipe: choose the recipe by name
StartContinuous()      method                      40100 StartContinuous: inspect the source
Stop()                 method                      40100 Stop
StartSingleJob()       method -> PartId            40100 StartSingleJob: the trigger; inspect one part
                                                   (the next camera frame) and return its part id
=====================  ==========================  =================================================

Not implemented from 40100: the full state-machine types, configuration management, result
events with ResultDataType, and the Abort/Reset/Halt transitions (a station stops, or reports an
error until the next start).

Security: a client logs in with a user name and password, or with a trusted client certificate.
Anonymous access exists only when ``allow_anonymous`` is set explicitly. With a server certificate
and key the encrypted endpoint (Basic256Sha256, SignAndEncrypt) is offered as well.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from inspector.errors import InspectorError
from inspector.store.domain import utc_now

log = logging.getLogger(__name__)

NAMESPACE = "urn:inspector:machine-vision"
READY, RUNNING, ERROR = "Ready", "Running", "Error"


class OpcUaError(InspectorError):
    """The OPC UA server cannot start as configured."""

    exit_code = 2


class StationControl(Protocol):
    """What the OPC UA methods drive: the station session (``inspector.pipeline.session``)."""

    def recipe_names(self) -> list[str]: ...

    def select_recipe(self, name: str) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def trigger(self) -> str:
        """Inspect one part now; the part id once it is stored."""
        ...


@dataclass(frozen=True)
class OpcUaSettings:
    endpoint: str = "opc.tcp://127.0.0.1:4840/inspector/"
    enabled: bool = True  # False: the block is kept (users, certificates) but no server is started
    allow_anonymous: bool = False  # only when explicitly enabled
    users: dict[str, str] = field(default_factory=dict)  # user name -> password
    certificate_file: str | None = None  # the server's certificate (DER or PEM) ...
    private_key_file: str | None = None  # ... and key: adds the encrypted endpoint
    trusted_client_certificates: tuple[str, ...] = ()  # clients that log in by certificate
    method_timeout_s: float = 60.0


@dataclass(frozen=True)
class PartResult:
    part_id: str
    verdict: str
    score: float
    threshold: float
    time: datetime
    wrong_part: bool = False  # the part-identity check: not the recipe's part


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("OPC UA: a variable could not be updated: %s", future.exception())


class _Users:
    """asyncua user manager: passwords compared in constant time, certificates by their bytes."""

    def __init__(self, settings: OpcUaSettings, certificates: dict[bytes, str]) -> None:
        self.settings = settings
        self.certificates = certificates

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None, certificate=None):
        from asyncua.crypto.permission_rules import User, UserRole

        if username is None:
            name = self.certificates.get(bytes(certificate)) if certificate else None
            if name:
                return User(role=UserRole.User, name=name)
            return User(role=UserRole.User, name="anonymous") if self.settings.allow_anonymous else None
        expected = self.settings.users.get(username)
        if expected is not None and hmac.compare_digest(expected.encode(), (password or "").encode()):
            return User(role=UserRole.User, name=username)
        return None


class OpcUaServer:
    """Runs the OPC UA server on its own thread (an asyncio loop); safe to update from any thread."""

    def __init__(self, settings: OpcUaSettings, control: StationControl, *, station: str) -> None:
        if not (settings.allow_anonymous or settings.users or settings.trusted_client_certificates):
            raise OpcUaError(
                "The OPC UA server has no way to log in: add users (user name and password) or trusted "
                "client certificates to its settings, or enable anonymous access explicitly."
            )
        if bool(settings.certificate_file) != bool(settings.private_key_file):
            raise OpcUaError("The OPC UA server certificate needs both the certificate file and its private key.")
        self.settings = settings
        self.control = control
        self.station = station
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready: Future[None] = Future()
        self._stopped = asyncio.Event()
        self._nodes: dict[str, Any] = {}
        self._counter = 0

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> OpcUaServer:
        self._thread = threading.Thread(target=self._thread_main, name="inspector-opcua", daemon=True)
        self._thread.start()
        try:
            self._ready.result(timeout)
        except OSError as error:
            raise OpcUaError(f"The OPC UA server cannot listen on {self.settings.endpoint}: {error}") from error
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def endpoint(self) -> str:
        return self.settings.endpoint

    # -- updates from the station (any thread) -------------------------------------------------

    def set_state(self, state: str, message: str = "") -> None:
        self._write({"SystemState": state, "ErrorMessage": message})

    def set_recipe(self, name: str | None) -> None:
        self._write({"CurrentRecipe": name or ""})

    def set_recipes(self, names: list[str]) -> None:
        self._write({"Recipes": list(names)})

    def publish_result(self, result: PartResult) -> None:
        self._counter += 1
        self._write(
            {
                "PartId": result.part_id,
                "Verdict": result.verdict,
                "Score": float(result.score),
                "Threshold": float(result.threshold),
                "Time": result.time,
                "WrongPart": bool(result.wrong_part),
                "Counter": self._counter,
            }
        )

    def _write(self, values: dict[str, Any]) -> None:
        """Hand the update to the server's loop without waiting (callers may be the database thread)."""
        if self._loop is None or not self._ready.done() or self._loop.is_closed():
            return
        try:
            future = asyncio.run_coroutine_threadsafe(self._write_async(values), self._loop)
        except RuntimeError:  # the loop is stopping
            return
        future.add_done_callback(_log_failure)

    async def _write_async(self, values: dict[str, Any]) -> None:
        from asyncua import ua

        for name, value in values.items():
            node = self._nodes[name]
            variant = await node.read_data_type_as_variant_type()
            await node.write_value(ua.Variant(value, variant))

    # -- the server thread ---------------------------------------------------------------------

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as error:
            if not self._ready.done():
                self._ready.set_exception(error)
            else:
                log.exception("the OPC UA server stopped")
        finally:
            loop.close()

    async def _serve(self) -> None:
        from asyncua import Server, ua

        self._stopped = asyncio.Event()
        certificates = await self._client_certificates()
        # asyncua annotates user_manager with its UserManager class but only calls get_user (its own
        # default, PermissiveUserManager, is no subclass either); _Users stays importable without asyncua.
        server = Server(user_manager=_Users(self.settings, certificates))  # type: ignore[arg-type]
        await server.init()
        server.set_endpoint(self.settings.endpoint)
        server.set_server_name(f"Inspector vision system {self.station}")
        policies = [ua.SecurityPolicyType.NoSecurity]
        if self.settings.certificate_file and self.settings.private_key_file:  # both or neither (__init__)
            await server.load_certificate(self.settings.certificate_file)
            await server.load_private_key(self.settings.private_key_file)
            policies.append(ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt)
        server.set_security_policy(policies)
        tokens: list[type] = [ua.UserNameIdentityToken]
        if self.settings.allow_anonymous:
            tokens.append(ua.AnonymousIdentityToken)
        if certificates:
            tokens.append(ua.X509IdentityToken)
        server.set_identity_tokens(tokens)
        await self._build(server)
        async with server:
            self._ready.set_result(None)
            await self._stopped.wait()

    async def _client_certificates(self) -> dict[bytes, str]:
        from asyncua.crypto import uacrypto

        found: dict[bytes, str] = {}
        for path in self.settings.trusted_client_certificates:
            try:
                cert = await uacrypto.load_certificate(path)
            except (OSError, ValueError) as error:
                raise OpcUaError(f"Cannot read the trusted client certificate {path}: {error}") from error
            found[uacrypto.der_from_x509(cert)] = Path(path).stem
        return found

    async def _build(self, server: Any) -> None:
        from asyncua import ua

        idx = await server.register_namespace(NAMESPACE)
        system = await server.nodes.objects.add_object(idx, "InspectorVisionSystem")
        try:
            recipes = list(self.control.recipe_names())
        except InspectorError as error:
            recipes = []
            log.warning("OPC UA: the recipe list is not available: %s", error)

        async def var(parent: Any, name: str, value: Any, vtype: Any) -> None:
            node = await parent.add_variable(idx, name, ua.Variant(value, vtype))
            self._nodes[name] = node

        await var(system, "SystemState", READY, ua.VariantType.String)
        await var(system, "ErrorMessage", "", ua.VariantType.String)
        await var(system, "Station", self.station, ua.VariantType.String)
        await var(system, "Recipes", recipes, ua.VariantType.String)
        await var(system, "CurrentRecipe", "", ua.VariantType.String)
        result = await system.add_object(idx, "LastResult")
        await var(result, "PartId", "", ua.VariantType.String)
        await var(result, "Verdict", "", ua.VariantType.String)
        await var(result, "Score", 0.0, ua.VariantType.Double)
        await var(result, "Threshold", 0.0, ua.VariantType.Double)
        await var(result, "Time", utc_now(), ua.VariantType.DateTime)
        await var(result, "WrongPart", False, ua.VariantType.Boolean)
        await var(result, "Counter", 0, ua.VariantType.Int64)

        def method(action: Callable[..., Any], after: Callable[[Any], dict[str, Any]] | None = None):
            async def call(_parent: Any, *args: Any) -> list[Any]:
                values = [a.Value if isinstance(a, ua.Variant) else a for a in args]
                loop = asyncio.get_running_loop()
                try:
                    out = await asyncio.wait_for(
                        loop.run_in_executor(None, action, *values), self.settings.method_timeout_s
                    )
                except (InspectorError, ValueError, TimeoutError) as error:
                    message = str(error) or "the station did not answer in time"
                    await self._write_async({"ErrorMessage": message})
                    raise ua.UaStatusCodeError(ua.StatusCodes.BadInvalidState) from error
                if after is not None:
                    await self._write_async(after(out))
                return [ua.Variant(out, ua.VariantType.String)] if isinstance(out, str) else []

            return call

        def selected(name: str) -> Callable[[Any], dict[str, Any]]:
            return lambda _out: {"CurrentRecipe": name, "ErrorMessage": ""}

        async def select_recipe(parent: Any, name: Any) -> list[Any]:
            value = name.Value if isinstance(name, ua.Variant) else name
            return await method(self.control.select_recipe, selected(str(value)))(parent, value)

        string_arg = ua.Argument()
        string_arg.Name = "RecipeName"
        string_arg.DataType = ua.NodeId(ua.Int32(ua.ObjectIds.String))
        string_arg.ValueRank = -1
        part_arg = ua.Argument()
        part_arg.Name = "PartId"
        part_arg.DataType = ua.NodeId(ua.Int32(ua.ObjectIds.String))
        part_arg.ValueRank = -1
        await system.add_method(idx, "SelectRecipe", select_recipe, [string_arg], [])
        await system.add_method(
            idx, "StartContinuous", method(self.control.start, lambda _o: {"SystemState": RUNNING}), [], []
        )
        await system.add_method(idx, "Stop", method(self.control.stop, lambda _o: {"SystemState": READY}), [], [])
        await system.add_method(idx, "StartSingleJob", method(self.control.trigger), [], [part_arg])
