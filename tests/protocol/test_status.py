"""Code names, numbers and HTTP statuses agree with grpc, error_codes.proto and the contract's table."""

import grpc
import pytest

from protocol import status
from protocol.generated.tensorflow.core.protobuf import error_codes_pb2


def test_names_are_numbered_like_grpc_and_error_codes_proto():
    for number, name in enumerate(status.CODE_NAMES):
        assert grpc.StatusCode[name].value[0] == number
        assert error_codes_pb2.Code.Value(name) == number
        assert status.code_name(number) == name and status.code_number(name) == number
    assert len(status.CODE_NAMES) == len(grpc.StatusCode)
    assert status.code_name(99) == status.code_name(-1) == "UNKNOWN"


@pytest.mark.parametrize(
    "code, http",
    [
        ("INVALID_ARGUMENT", 400),
        ("FAILED_PRECONDITION", 400),
        ("OUT_OF_RANGE", 400),
        ("NOT_FOUND", 404),
        ("RESOURCE_EXHAUSTED", 429),
        ("CANCELLED", 499),
        ("UNKNOWN", 500),
        ("INTERNAL", 500),
        ("DATA_LOSS", 500),
        ("UNIMPLEMENTED", 501),
        ("UNAVAILABLE", 503),
        ("DEADLINE_EXCEEDED", 504),
        ("OK", 200),
    ],
)
def test_http_status_of_each_code(code, http):
    assert status.http_status(code) == http


def test_reading_a_status_back_gives_a_code_with_that_status():
    for http, code in status.CODE_BY_HTTP_STATUS.items():
        assert status.http_status(code) == http
    assert set(status.HTTP_STATUS_BY_CODE) == set(status.CODE_NAMES)
    assert status.code_for_http_status(418) == "INVALID_ARGUMENT" and status.code_for_http_status(502) == "UNKNOWN"
