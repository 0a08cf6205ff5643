"""The MCP benchmark's anchor: an echo tool on the official Python MCP SDK.

One tool, `echo { text }`, returning the text, served over streamable HTTP at
/mcp, stateless with JSON responses (as our servers run), by one uvicorn
worker. No auth. Usage: python_mcp_server.py PORT
"""

import sys

import uvicorn

from mcp.server import MCPServer


def main() -> None:
    port = int(sys.argv[1])
    # WARNING, not the SDK's default INFO: our server logs errors only during
    # the benchmark, so the anchor should not pay for a log line per request.
    server = MCPServer("python-echo", version="1.0.0", log_level="WARNING")

    @server.tool()
    def echo(text: str) -> str:
        """Returns the text it was given."""
        return text

    app = server.streamable_http_app(json_response=True, stateless_http=True, host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
