"""A real MCP server for tests/tool_mcp.rs: the official Python SDK (`mcp`
2.x, whose FastMCP is now called MCPServer) serving streamable HTTP.

    python3 mcp_server.py [--port N] [--token T]

Listens on 127.0.0.1 (port 0: any free port) at /mcp and prints
`PORT <n>` on stdout once the socket listens. With --token, every request
must carry `Authorization: Bearer <T>` or gets 401.

Tools:
  lookup_order(order)  structured answer (structuredContent), echoing the
                       warmline call id the request's `_meta` carried
  refund(order)        always fails as a tool error (isError)
  open_returns()       adds book_return and tells the client the tool list
                       changed (notifications/tools/list_changed)
"""

import argparse
import asyncio
import socket
import sys

import uvicorn
from typing_extensions import TypedDict
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("warmline-test-shop")


def call_meta(ctx: Context) -> dict:
    meta = ctx.request_context.meta
    if meta is None:
        return {}
    if isinstance(meta, dict):
        return meta
    return meta.model_dump(by_alias=True, exclude_none=True)


class OrderStatus(TypedDict):
    order: str
    status: str
    call_id: str | None


@server.tool()
def lookup_order(order: str, ctx: Context) -> OrderStatus:
    """Look up an order by its number and say where it is."""
    call = call_meta(ctx).get("io.warmline/call") or {}
    return {"order": order, "status": "shipped", "call_id": call.get("id")}


@server.tool()
def refund(order: str) -> str:
    """Refund an order."""
    raise ToolError(f"Refunds for order {order} need a manager's approval.")


def book_return(order: str) -> dict:
    """Book a return pickup for an order (answers JSON as text)."""
    return {"order": order, "return": "booked"}


@server.tool()
async def open_returns(ctx: Context) -> str:
    """Open the returns desk (adds the book_return tool)."""
    if "book_return" not in [t.name for t in await server.list_tools()]:
        server.add_tool(book_return)
    # Handshake-era clients hear it on their session; 2026-era clients
    # through subscriptions/listen.
    await ctx.session.send_tool_list_changed()
    await ctx.notify_tools_changed()
    return "The returns desk is open."


def with_token(app, token):
    """Refuses any request without `Authorization: Bearer <token>`."""
    expected = f"Bearer {token}".encode()

    async def guarded(scope, receive, send):
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != expected:
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"unauthorized"})
            return
        await app(scope, receive, send)

    return guarded


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token")
    args = parser.parse_args()

    app = server.streamable_http_app()
    if args.token:
        app = with_token(app, args.token)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(128)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve(sockets=[sock])


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
