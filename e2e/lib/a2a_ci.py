"""Someone with a service token talking straight to the orchestrator with the
official Python A2A SDK (a2a-sdk 1.3), over JSON-RPC: the way around the
control plane that approval tokens close.

Usage:
  python a2a_ci.py answer URL TOKEN TASK_ID APPROVAL_TOKEN
      answers the task's open gate with an approval token; prints
      RESULT {"accepted": bool, "error": text}.
  python a2a_ci.py tokens URL TOKEN TASK_ID
      reads the task's history (GetTask) and prints
      RESULT {"approval_tokens": [...]}: what anyone who may read the task sees.
  python a2a_ci.py goal URL TOKEN GOAL_JSON
      sends a goal to the orchestrator's orchestrate-ml-pipeline skill, as a CI
      job does, and prints RESULT {"task_id": ...} from its first event.
"""

import asyncio
import json
import sys
import uuid

import httpx
from google.protobuf import json_format, struct_pb2
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types import GetTaskRequest, Message, Part, Role, SendMessageRequest


async def client_for(url, token):
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120)
    card = await A2ACardResolver(http, url).get_agent_card()
    config = ClientConfig(
        streaming=True,
        httpx_client=http,
        supported_protocol_bindings=["JSONRPC"],
        use_client_preference=True,
    )
    return http, ClientFactory(config).create(card)


def data_message(payload, task_id=None, skill=None):
    data = struct_pb2.Value()
    data.struct_value.update(payload)
    message = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(data=data)])
    if task_id:
        message.task_id = task_id
    if skill:
        message.metadata.update({"skill": skill})
    return message


async def answer(url, token, task_id, approval):
    http, client = await client_for(url, token)
    message = data_message({"approval_token": approval}, task_id=task_id)
    try:
        async for _ in client.send_message(SendMessageRequest(message=message)):
            break
        result = {"accepted": True, "error": None}
    except Exception as error:  # the SDK raises the server's JSON-RPC error
        result = {"accepted": False, "error": f"{type(error).__name__}: {error}"}
    await http.aclose()
    return result


async def goal(url, token, goal_json):
    http, client = await client_for(url, token)
    message = data_message(json.loads(goal_json), skill="orchestrate-ml-pipeline")
    task_id = None
    async for event in client.send_message(SendMessageRequest(message=message)):
        # The first event names the task: a Task, or an update on one.
        for field in ("task", "status_update", "artifact_update"):
            if event.HasField(field):
                item = getattr(event, field)
                task_id = item.id if field == "task" else item.task_id
                break
        if task_id:
            break
    await http.aclose()
    return {"task_id": task_id}


async def tokens(url, token, task_id):
    http, client = await client_for(url, token)
    task = await client.get_task(GetTaskRequest(id=task_id, history_length=100))
    found = []
    for message in task.history:
        for part in message.parts:
            if part.HasField("data"):
                data = json_format.MessageToDict(part.data)
                if isinstance(data, dict) and "approval_token" in data:
                    found.append(data["approval_token"])
    await http.aclose()
    return {"approval_tokens": found}


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    run = {"answer": answer, "tokens": tokens, "goal": goal}[command]
    print("RESULT " + json.dumps(asyncio.run(run(*args))))
