"""Runs one skill of an mlops agent with the official Python A2A SDK (a2a-sdk 1.3).

Usage: python a2a_skill_client.py URL TOKEN SKILL INPUT_JSON

Streams the task over JSON-RPC and prints, on its last line,
`RESULT <json>` with the final state, the status text, the progress lines
seen, and each artifact's data part by artifact name.
"""

import asyncio
import json
import sys
import uuid

import httpx
from google.protobuf import json_format, struct_pb2
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types import Message, Part, Role, SendMessageRequest, TaskState


def status_text(status):
    return " ".join(p.text for p in status.message.parts if p.text)


async def main(url, token, skill, raw_input):
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=300)
    card = await A2ACardResolver(http, url).get_agent_card()
    assert skill in [s.id for s in card.skills], [s.id for s in card.skills]

    data = struct_pb2.Value()
    data.struct_value.update(json.loads(raw_input))
    metadata = struct_pb2.Struct()
    metadata.update({"skill": skill})
    message = Message(
        message_id=str(uuid.uuid4()),
        role=Role.ROLE_USER,
        parts=[Part(data=data)],
        metadata=metadata,
    )
    config = ClientConfig(
        streaming=True,
        httpx_client=http,
        supported_protocol_bindings=["JSONRPC"],
        use_client_preference=True,
    )
    client = ClientFactory(config).create(card)

    state, text, progress, artifacts = None, "", [], {}
    async for event in client.send_message(SendMessageRequest(message=message)):
        kind = event.WhichOneof("payload")
        if kind == "task":
            state = TaskState.Name(event.task.status.state)
        elif kind == "status_update":
            status = event.status_update.status
            state = TaskState.Name(status.state)
            text = status_text(status)
            if status.state == TaskState.TASK_STATE_WORKING:
                progress.append(text)
        elif kind == "artifact_update":
            artifact = event.artifact_update.artifact
            for part in artifact.parts:
                if part.HasField("data"):
                    artifacts[artifact.name] = json_format.MessageToDict(part.data)
    await http.aclose()
    print("RESULT " + json.dumps({
        "state": state,
        "status_text": text,
        "progress": progress,
        "artifacts": artifacts,
    }))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
