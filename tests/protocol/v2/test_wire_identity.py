"""The project's inference.GRPCInferenceService is the published one on the wire.

The published .proto comes as the v2 clients users have ship it: tritonclient's (Triton's
grpc_service.proto, a superset of the Open Inference Protocol with the repository extension) and the
kserve SDK's (grpc_predict_v2.proto). Their compiled descriptors are read in the third-party venv
(they cannot live in the project's: tritonclient's grpc extra pins an older protobuf) and built into
pools of their own here. Every message of ours has the same fields (names, numbers, types) as theirs,
a message with every field set serializes with one and parses with the other to the same bytes, and
every RPC has the same request and response types.
"""

from __future__ import annotations

import base64
import json

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from protocol.generated import POOL
from protocol.generated.inference import open_inference_pb2
from tests.fixtures.venvs import run_in
from tests.protocol.wire import field_table, fill, message_types, variants

pytestmark = pytest.mark.slow

PUBLISHED = {
    "tritonclient": "tritonclient.grpc.service_pb2",
    "kserve": "kserve.protocol.grpc.grpc_predict_v2_pb2",
}
# Fields of the current specification (open_inference_grpc.proto) that a package's older copy lacks:
# its parser skips them, so they may be missing there and nowhere else.
NEWER_IN_THE_SPEC = {
    "inference.ModelMetadataResponse": {"properties"},
    "inference.InferParameter": {"double_param", "uint64_param"},
}
# KServe's own server numbers its repository messages differently (model_name = 1, and no index RPC);
# tritonclient's load_model / unload_model / get_model_repository_index, which users call, are Triton's.
KSERVE_OWN = {
    "inference.RepositoryModelLoadRequest",
    "inference.RepositoryModelLoadResponse",
    "inference.RepositoryModelUnloadRequest",
    "inference.RepositoryModelUnloadResponse",
    "inference.RepositoryIndexRequest",
    "inference.RepositoryIndexResponse",
    "inference.RepositoryIndexResponse.ModelIndex",
    "inference.ModelRepositoryParameter",
}
REPOSITORY_METHODS = {"RepositoryIndex", "RepositoryModelLoad", "RepositoryModelUnload"}

DUMP = """
import base64, importlib, json, sys
files = []
def add(fd):
    for dependency in fd.dependencies:
        add(dependency)
    if fd.name not in [name for name, _ in files]:
        files.append((fd.name, base64.b64encode(fd.serialized_pb).decode()))
add(importlib.import_module(sys.argv[1]).DESCRIPTOR)
print(json.dumps(files))
"""

OURS = sorted(message_types(open_inference_pb2.DESCRIPTOR), key=lambda d: d.full_name)
CASES = [(package, d) for package in PUBLISHED for d in OURS if not (package == "kserve" and d.full_name in KSERVE_OWN)]


@pytest.fixture(scope="module")
def published_pools(third_party_python) -> dict[str, descriptor_pool.DescriptorPool]:
    pools = {}
    for package, module in PUBLISHED.items():
        run = run_in(third_party_python, ["-c", DUMP, module], timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        pool = descriptor_pool.DescriptorPool()
        for _, serialized in json.loads(run.stdout):
            pool.Add(descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(serialized)))
        pools[package] = pool
    return pools


def _theirs(pools, package: str, full_name: str):
    return pools[package].FindMessageTypeByName(full_name)


@pytest.mark.parametrize("package, ours", CASES, ids=lambda c: c if isinstance(c, str) else c.full_name)
def test_fields_match_the_published_message(published_pools, package, ours):
    theirs = _theirs(published_pools, package, ours.full_name)
    missing = set(ours.fields_by_name) - set(theirs.fields_by_name)
    assert missing <= NEWER_IN_THE_SPEC.get(ours.full_name, set())
    assert field_table(ours, missing) == field_table(theirs)


@pytest.mark.parametrize("package, ours", CASES, ids=lambda c: c if isinstance(c, str) else c.full_name)
def test_bytes_are_identical_both_ways(published_pools, package, ours):
    theirs = _theirs(published_pools, package, ours.full_name)
    skip = {
        d.full_name: set(d.fields_by_name) - set(_theirs(published_pools, package, d.full_name).fields_by_name)
        for d in OURS
        if not (package == "kserve" and d.full_name in KSERVE_OWN)
    }
    ours_class = message_factory.GetMessageClass(POOL.FindMessageTypeByName(ours.full_name))
    their_class = message_factory.GetMessageClass(theirs)
    for choose in variants(ours, skip):
        for writer, reader in ((ours_class, their_class), (their_class, ours_class)):
            sent = writer()
            fill(sent, choose, skip=skip)
            wire = sent.SerializeToString(deterministic=True)
            assert wire or not ours.fields
            received = reader.FromString(wire)
            assert received.SerializeToString(deterministic=True) == wire, (writer, choose)
            assert text_format.MessageToString(received) == text_format.MessageToString(sent), (writer, choose)


@pytest.mark.parametrize("package", list(PUBLISHED))
def test_the_service_matches(published_pools, package):
    ours = open_inference_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    theirs = published_pools[package].FindServiceByName("inference.GRPCInferenceService")
    methods = {m.name for m in ours.methods} - (REPOSITORY_METHODS if package == "kserve" else set())
    assert methods <= {m.name for m in theirs.methods}
    for name in methods:
        mine, published = ours.methods_by_name[name], theirs.methods_by_name[name]
        assert (mine.input_type.full_name, mine.output_type.full_name) == (
            published.input_type.full_name,
            published.output_type.full_name,
        )
        assert not (published.client_streaming or published.server_streaming)
