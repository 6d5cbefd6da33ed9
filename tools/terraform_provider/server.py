# ruff: noqa: N802 - gRPC servicer methods carry the protocol's RPC names.
"""A stand-in for the hashicorp/aws Terraform provider: go-plugin handshake, AutoMTLS and the tfplugin6 protocol.

It serves the real provider's schema (derived from the cdktn bindings, see schema.py), plans every resource the way
a provider without server-side defaults would (computed attributes the configuration leaves null become unknown) and
answers the data sources this repository reads with realistic values. It never calls AWS and listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import json
import os
import ssl
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import data_sources, protocol, schema, values

MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
CORE_PROTOCOL_VERSION = 1
APP_PROTOCOL_VERSION = 6

pb, pb_grpc = protocol.load()

_NESTED_BLOCK = {
    "single": pb.Schema.NestedBlock.SINGLE,
    "list": pb.Schema.NestedBlock.LIST,
    "set": pb.Schema.NestedBlock.SET,
    "map": pb.Schema.NestedBlock.MAP,
    "group": pb.Schema.NestedBlock.GROUP,
}
_NESTED_OBJECT = {
    "single": pb.Schema.Object.SINGLE,
    "list": pb.Schema.Object.LIST,
    "set": pb.Schema.Object.SET,
    "map": pb.Schema.Object.MAP,
}


def _log(message: str) -> None:
    """stderr reaches Terraform's plugin log (TF_LOG=debug); stdout is reserved for the handshake."""
    print(f"[aws stand-in] {message}", file=sys.stderr, flush=True)


# --- schema -------------------------------------------------------------------------------------------------------


def _no_dynamic(cty: Any) -> Any:
    """The type with `dynamic` replaced by string: Terraform forbids dynamic types inside set-nested blocks."""
    if cty == "dynamic":
        return "string"
    if isinstance(cty, list):
        return [_no_dynamic(c) for c in cty]
    if isinstance(cty, dict):
        return {k: _no_dynamic(v) for k, v in cty.items()}
    return cty


def _attribute_pb(name: str, attr: dict[str, Any], in_set: bool = False) -> Any:
    """One schema attribute as protobuf (in_set: somewhere inside a set-nested block or attribute)."""
    out = pb.Schema.Attribute(
        name=name,
        required=bool(attr.get("required")),
        optional=bool(attr.get("optional")),
        computed=bool(attr.get("computed")),
        sensitive=bool(attr.get("sensitive")),
    )
    if "nested_type" in attr:
        nested = attr["nested_type"]
        inner_set = in_set or nested["nesting_mode"] == "set"
        out.nested_type.CopyFrom(
            pb.Schema.Object(
                attributes=[_attribute_pb(n, a, inner_set) for n, a in sorted(nested["attributes"].items())],
                nesting=_NESTED_OBJECT[nested["nesting_mode"]],
            )
        )
    else:
        cty = _no_dynamic(attr["type"]) if in_set else attr["type"]
        out.type = json.dumps(cty, separators=(",", ":")).encode()
    return out


def _block_pb(block: dict[str, Any], in_set: bool = False) -> Any:
    """One schema block (attributes and nested blocks) as protobuf."""
    return pb.Schema.Block(
        attributes=[_attribute_pb(n, a, in_set) for n, a in sorted(block["attributes"].items())],
        block_types=[
            pb.Schema.NestedBlock(
                type_name=n,
                block=_block_pb(b["block"], in_set or b["nesting_mode"] == "set"),
                nesting=_NESTED_BLOCK[b["nesting_mode"]],
                min_items=b.get("min_items", 0),
                max_items=b.get("max_items", 0),
            )
            for n, b in sorted(block["block_types"].items())
        ],
    )


def _schema_pb(entry: dict[str, Any]) -> Any:
    """A provider, resource or data source schema as protobuf."""
    return pb.Schema(version=entry.get("version", 0), block=_block_pb(entry["block"]))


def build_schema_response(derived: dict[str, Any]) -> Any:
    """GetProviderSchema.Response for the whole derived schema."""
    return pb.GetProviderSchema.Response(
        provider=_schema_pb(derived["provider"]),
        resource_schemas={n: _schema_pb(s) for n, s in derived["resource_schemas"].items()},
        data_source_schemas={n: _schema_pb(s) for n, s in derived["data_source_schemas"].items()},
        server_capabilities=pb.ServerCapabilities(plan_destroy=False, get_provider_schema_optional=True),
    )


def schema_response_bytes(cache_dir: Path = schema.CACHE_DIR) -> bytes:
    """The serialized GetProviderSchema response, cached beside the derived schema (built once, ~1 s)."""
    proto_digest = hashlib.sha256(protocol.PROTO.read_bytes() + Path(__file__).read_bytes()).hexdigest()[:12]
    cached = cache_dir / f"{schema.SCHEMA_FILE}.{proto_digest}.pb"
    if cached.exists():
        return cached.read_bytes()
    data: bytes = build_schema_response(schema.load_schema(cache_dir)).SerializeToString(deterministic=True)
    schema._provider_schema_tool()._atomic_write(cached, data)
    return data


# --- provider -----------------------------------------------------------------------------------------------------


def _error(summary: str, detail: str = "") -> Any:
    """An error diagnostic."""
    return pb.Diagnostic(severity=pb.Diagnostic.ERROR, summary=summary, detail=detail)


def _dynamic(value: Any) -> Any:
    """A value as a msgpack DynamicValue."""
    return pb.DynamicValue(msgpack=values.encode(value))


def _value(dynamic: Any) -> Any:
    """A DynamicValue's content (msgpack, or JSON for callers that choose it)."""
    if dynamic.msgpack:
        return values.decode(dynamic.msgpack)
    if dynamic.json:
        return json.loads(dynamic.json)
    return None


class AwsStandIn(pb_grpc.ProviderServicer):  # type: ignore[misc, name-defined]
    """The tfplugin6 Provider service; RPCs not overridden here answer UNIMPLEMENTED."""

    def __init__(self, schema_bytes: bytes, stop: threading.Event) -> None:
        self._schema_bytes = schema_bytes
        self._response: Any = None
        self._derived: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._stop = stop
        self.region = ""

    def _schema(self) -> Any:
        """The parsed schema response (parsed lazily: GetMetadata alone does not need it)."""
        with self._lock:
            if self._response is None:
                self._response = pb.GetProviderSchema.Response.FromString(self._schema_bytes)
            return self._response

    def _block(self, kind: str, type_name: str) -> dict[str, Any] | None:
        """JSON form of one resource or data source block (from the derived schema, parsed once per process: each
        of a plan's hundred resources re-reading 3 MB of JSON cost five CPU-seconds a plan)."""
        with self._lock:
            if self._derived is None:
                self._derived = schema.load_schema()
            derived = self._derived
        entry = derived[kind].get(type_name)
        return None if entry is None else entry["block"]

    def GetMetadata(self, request: Any, context: Any) -> Any:
        """Type names and capabilities without the full schema."""
        response = self._schema()
        return pb.GetMetadata.Response(
            server_capabilities=response.server_capabilities,
            resources=[pb.GetMetadata.ResourceMetadata(type_name=n) for n in response.resource_schemas],
            data_sources=[pb.GetMetadata.DataSourceMetadata(type_name=n) for n in response.data_source_schemas],
        )

    def GetProviderSchema(self, request: Any, context: Any) -> Any:
        """The whole schema: ~1,700 resources and ~700 data sources."""
        return self._schema()

    def GetResourceIdentitySchemas(self, request: Any, context: Any) -> Any:
        """No identity schemas (they only matter to import and list)."""
        return pb.GetResourceIdentitySchemas.Response()

    def GetFunctions(self, request: Any, context: Any) -> Any:
        """No provider-defined functions."""
        return pb.GetFunctions.Response()

    def ValidateProviderConfig(self, request: Any, context: Any) -> Any:
        """Terraform core has already checked the config against the schema; nothing provider-specific to add."""
        return pb.ValidateProviderConfig.Response()

    def ValidateResourceConfig(self, request: Any, context: Any) -> Any:
        """Schema conformance is checked by Terraform core; the stand-in has no provider-side validators."""
        return pb.ValidateResourceConfig.Response()

    def ValidateDataResourceConfig(self, request: Any, context: Any) -> Any:
        """As ValidateResourceConfig."""
        return pb.ValidateDataResourceConfig.Response()

    def ValidateEphemeralResourceConfig(self, request: Any, context: Any) -> Any:
        """No ephemeral resources are served."""
        return pb.ValidateEphemeralResourceConfig.Response()

    def ConfigureProvider(self, request: Any, context: Any) -> Any:
        """Remember the Region: the config's `region`, else AWS_REGION / AWS_DEFAULT_REGION, as the real provider."""
        config = _value(request.config) or {}
        region = config.get("region")
        if values.is_unknown(region):
            region = None
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
        if not region:
            return pb.ConfigureProvider.Response(
                diagnostics=[_error("Missing region value", "Set provider region or AWS_REGION (stand-in provider).")]
            )
        self.region = region
        return pb.ConfigureProvider.Response()

    def UpgradeResourceState(self, request: Any, context: Any) -> Any:
        """States are written by this same schema version, so the JSON state is already current."""
        return pb.UpgradeResourceState.Response(upgraded_state=pb.DynamicValue(json=request.raw_state.json))

    def ReadResource(self, request: Any, context: Any) -> Any:
        """Nothing exists remotely to refresh from: the recorded state stands."""
        return pb.ReadResource.Response(new_state=request.current_state, private=request.private)

    def PlanResourceChange(self, request: Any, context: Any) -> Any:
        """Planned state = proposed new state, with computed attributes left null by the configuration unknown."""
        proposed = _value(request.proposed_new_state)
        if proposed is None:  # destroy
            return pb.PlanResourceChange.Response(planned_state=request.proposed_new_state)
        block = self._block("resource_schemas", request.type_name)
        if block is None:
            return pb.PlanResourceChange.Response(diagnostics=[_error(f"unknown resource type {request.type_name}")])
        prior = _value(request.prior_state)
        if prior is None:
            proposed = values.mark_computed_unknown(block, proposed)
        return pb.PlanResourceChange.Response(planned_state=_dynamic(proposed))

    def ReadDataSource(self, request: Any, context: Any) -> Any:
        """Realistic values for the identity, Region, partition and policy-document data sources; nulls otherwise."""
        config = _value(request.config) or {}
        reader = data_sources.READERS.get(request.type_name)
        if reader is None:
            state = config
        else:
            result = reader(config, self.region)
            # The answer must have exactly the schema's attributes: keep the config's keys only.
            state = {key: result.get(key) for key in config}
        return pb.ReadDataSource.Response(state=_dynamic(state))

    def StopProvider(self, request: Any, context: Any) -> Any:
        """Nothing long-running to interrupt."""
        return pb.StopProvider.Response()


# --- go-plugin ----------------------------------------------------------------------------------------------------


def make_server_certificate() -> tuple[bytes, bytes, bytes]:
    """Self-signed server certificate for AutoMTLS: (key PEM, cert PEM, cert DER). go-plugin pins it as its CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HashiCorp"),
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM), cert.public_bytes(serialization.Encoding.DER)


def _go_plugin_services(stop: threading.Event) -> dict[str, dict[str, grpc.RpcMethodHandler]]:
    """go-plugin's own services, with raw bytes: controller Shutdown, stdio and broker streams, health check."""

    def shutdown(request: bytes, context: Any) -> bytes:
        stop.set()
        return b""  # google.protobuf.Empty

    def stdio(request: bytes, context: Any) -> Iterator[bytes]:
        return iter(())  # plugin output goes to stderr directly

    def broker(requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
        for _ in requests:  # no sub-plugins are ever brokered; keep the stream open until the client closes it
            pass
        return iter(())

    def health(request: bytes, context: Any) -> bytes:
        return b"\x08\x01"  # HealthCheckResponse{status: SERVING}

    return {
        "plugin.GRPCController": {"Shutdown": grpc.unary_unary_rpc_method_handler(shutdown)},
        "plugin.GRPCStdio": {"StreamStdio": grpc.unary_stream_rpc_method_handler(stdio)},
        "plugin.GRPCBroker": {"StartStream": grpc.stream_stream_rpc_method_handler(broker)},
        "grpc.health.v1.Health": {"Check": grpc.unary_unary_rpc_method_handler(health)},
    }


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction of a proxied connection until EOF."""
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def _serve_tls(context: ssl.SSLContext, backend: str, stop: threading.Event) -> None:
    """Terminate mTLS on 127.0.0.1 and relay each connection to the gRPC server's Unix socket.

    grpcio's BoringSSL cannot verify go-plugin's client certificate (ECDSA P-521 is not in its signature algorithms,
    so Terraform sends none); Python's OpenSSL can, so TLS ends here and gRPC runs in plaintext on a private socket.
    """

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_unix_connection(backend)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pump(reader, upstream_writer), _pump(upstream_reader, writer))

    listener = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
    port = listener.sockets[0].getsockname()[1]
    _handshake(port, context)
    await asyncio.get_running_loop().run_in_executor(None, stop.wait)
    listener.close()


_SERVER_CERT_DER = b""


def _handshake(port: int, context: ssl.SSLContext | None) -> None:
    """go-plugin's handshake line: core and app protocol, address, and (AutoMTLS) our certificate."""
    # go-plugin reads the certificate as unpadded standard base64 (base64.RawStdEncoding).
    cert = "|" + base64.b64encode(_SERVER_CERT_DER).decode().rstrip("=") if context is not None else ""
    print(f"{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|tcp|127.0.0.1:{port}|grpc{cert}", flush=True)


def serve() -> int:
    """Run as a plugin process: check the magic cookie, listen on 127.0.0.1, print the handshake, serve until told."""
    global _SERVER_CERT_DER
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        print("This binary is a plugin. These are not meant to be executed directly.", file=sys.stderr)
        return 1
    stop = threading.Event()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16),
        options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", 256 << 20)],
    )
    pb_grpc.add_ProviderServicer_to_server(AwsStandIn(schema_response_bytes(), stop), server)
    for service, methods in _go_plugin_services(stop).items():
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, methods),))
    client_cert = os.environ.get("PLUGIN_CLIENT_CERT")
    with tempfile.TemporaryDirectory(prefix="tf-aws-standin-") as private:
        if not client_cert:
            port = server.add_insecure_port("127.0.0.1:0")
            server.start()
            _handshake(port, None)
            stop.wait()
        else:
            key_pem, cert_pem, _SERVER_CERT_DER = make_server_certificate()
            Path(private, "key.pem").write_bytes(key_pem)
            Path(private, "cert.pem").write_bytes(cert_pem)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(Path(private, "cert.pem"), Path(private, "key.pem"))
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cadata=client_cert)
            context.set_alpn_protocols(["h2"])
            backend = str(Path(private, "grpc.sock"))
            server.add_insecure_port(f"unix:{backend}")
            server.start()
            asyncio.run(_serve_tls(context, backend, stop))
        server.stop(grace=0.2)
    return 0
