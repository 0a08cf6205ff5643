"""Drives a kit-built agent with the official Python A2A SDK (a2a-sdk 1.3).

Usage: python a2a_sdk_client.py URL TOKEN BINDING   (BINDING: JSONRPC or HTTP+JSON)

Each check asserts what the protocol promises and prints one line; any
failure raises, so the process exits non-zero.
"""

import asyncio
import sys
import uuid

import httpx
from google.protobuf import struct_pb2
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    TaskState,
)

CONTRACTS = "urn:mlops:a2a:ext:skill-contracts:v1"


def user_message(text, task_id=None, context_id=None):
    data = struct_pb2.Value()
    data.struct_value.update({"text": text})
    msg = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(data=data)])
    if task_id:
        msg.task_id = task_id
    if context_id:
        msg.context_id = context_id
    return SendMessageRequest(message=msg)


def describe(event):
    kind = event.WhichOneof("payload")
    if kind == "task":
        return ("task", TaskState.Name(event.task.status.state))
    if kind == "status_update":
        return ("status", TaskState.Name(event.status_update.status.state))
    if kind == "artifact_update":
        return ("artifact", None)
    return (kind, None)


def task_of(events):
    for e in events:
        if e.WhichOneof("payload") == "task":
            return e.task
    raise AssertionError(f"no task in {[describe(e) for e in events]}")


async def main(url, token, binding):
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=20)

    card = await A2ACardResolver(http, url).get_agent_card()
    bindings = sorted(i.protocol_binding for i in card.supported_interfaces)
    assert bindings == ["HTTP+JSON", "JSONRPC"], bindings
    assert all(i.protocol_version == "1.0" for i in card.supported_interfaces)
    assert card.capabilities.streaming and card.capabilities.push_notifications
    assert CONTRACTS in [e.uri for e in card.capabilities.extensions]
    assert "bearer" in card.security_schemes
    print(f"ok {binding}: card")

    def client(streaming, polling=False):
        config = ClientConfig(
            streaming=streaming,
            polling=polling,
            httpx_client=http,
            supported_protocol_bindings=[binding],
            use_client_preference=True,
        )
        return ClientFactory(config).create(card)

    # SendMessage: a completed task with an artifact.
    unary = client(streaming=False)
    events = [e async for e in unary.send_message(user_message("hello"))]
    task = task_of(events)
    assert task.status.state == TaskState.TASK_STATE_COMPLETED, task.status
    assert task.artifacts and task.artifacts[0].parts[0].data.struct_value["echo"] == "hello"
    print(f"ok {binding}: SendMessage")

    # SendStreamingMessage: submitted, working, artifact, completed, in order.
    streaming = client(streaming=True)
    seen = [describe(e) async for e in streaming.send_message(user_message("stream me"))]
    expected = [
        ("task", "TASK_STATE_SUBMITTED"),
        ("status", "TASK_STATE_WORKING"),
        ("artifact", None),
        ("status", "TASK_STATE_COMPLETED"),
    ]
    assert seen == expected, seen
    print(f"ok {binding}: SendStreamingMessage order")

    # Input-required round trip on the same task.
    first = [e async for e in streaming.send_message(user_message("ask"))]
    assert describe(first[-1]) == ("status", "TASK_STATE_INPUT_REQUIRED"), [describe(e) for e in first]
    task_id = first[-1].status_update.task_id
    context_id = first[-1].status_update.context_id
    second = [e async for e in streaming.send_message(user_message("more", task_id, context_id))]
    assert describe(second[-1]) == ("status", "TASK_STATE_COMPLETED"), [describe(e) for e in second]
    assert second[-1].status_update.task_id == task_id
    print(f"ok {binding}: input-required round trip")

    # GetTask: the resumed task, with history and artifact.
    got = await unary.get_task(GetTaskRequest(id=task_id))
    assert got.id == task_id and got.status.state == TaskState.TASK_STATE_COMPLETED
    assert len(got.history) >= 2, got.history
    assert "more" in got.artifacts[0].parts[0].data.struct_value["echo"]
    print(f"ok {binding}: GetTask")

    # CancelTask on a task that works until canceled.
    polling = client(streaming=False, polling=True)
    started = task_of([e async for e in polling.send_message(user_message("wait"))])
    assert started.status.state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING), started.status
    canceled = await unary.cancel_task(CancelTaskRequest(id=started.id))
    assert canceled.status.state == TaskState.TASK_STATE_CANCELED, canceled.status
    print(f"ok {binding}: CancelTask")

    await http.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
