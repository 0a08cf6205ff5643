"""Drives one of our MCP servers with the official Python SDK (mcp 2.3).

Usage: python mcp_sdk_client.py URL TOKEN TOOL ARGS_JSON EXPECTED_TOOLS

Lists the tools (every name in the comma-separated EXPECTED_TOOLS must be
there, each with an object input schema), then calls TOOL with ARGS_JSON and
prints the structured result as one JSON line. Any failure raises.
"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client


async def main(url, token, tool, args, expected):
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await session.initialize()
                listed = await session.list_tools()
                names = {t.name: t for t in listed.tools}
                for name in expected:
                    assert name in names, f"{name} missing from {sorted(names)}"
                    assert names[name].input_schema["type"] == "object", names[name].input_schema
                print(f"ok tools: {len(names)}")
                result = await session.call_tool(tool, args)
                assert not result.is_error, result.content
                assert result.structured_content is not None, result
                assert result.content and result.content[0].type == "text"
                print("ok call:", json.dumps(result.structured_content, sort_keys=True))


if __name__ == "__main__":
    asyncio.run(
        main(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), sys.argv[5].split(","))
    )
