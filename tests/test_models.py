"""The single-argument models: strict at the edge, versionable, JSON-schema'd."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cloudops import Input, OperationRequest, Output, WorkflowResult
from cloudops.errors import BusinessError


class Thing(Input):
    size: int


class Answer(Output):
    size: int


def test_inputs_reject_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Thing.model_validate({"size": 1, "colour": "red"})


def test_outputs_ignore_fields_added_by_a_newer_worker() -> None:
    assert Answer.model_validate({"size": 1, "new_field": True}).size == 1


def test_operation_request_defaults_and_bounds() -> None:
    request = OperationRequest.model_validate({"operation": "example.echo"})
    assert request.input == {} and request.labels == {} and request.account is None
    with pytest.raises(ValidationError):
        OperationRequest.model_validate({"operation": "x", "request_id": "a b"})
    with pytest.raises(ValidationError):
        OperationRequest.model_validate({"operation": ""})


def test_workflow_result_is_generic_over_the_output() -> None:
    result = WorkflowResult[Answer].model_validate({"ok": True, "value": {"size": 3}})
    assert isinstance(result.value, Answer)
    schema = WorkflowResult[Answer].model_json_schema()
    assert "Answer" in str(schema)


def test_business_error_carries_code_and_details_and_pickles() -> None:
    import pickle

    err = BusinessError("NOT_FOUND", "no such group", {"name": "app-v001"})
    again = pickle.loads(pickle.dumps(err))
    assert (again.code, again.message, again.error_details) == (
        "NOT_FOUND",
        "no such group",
        {"name": "app-v001"},
    )
    assert err.non_retryable and err.type == "NOT_FOUND"
