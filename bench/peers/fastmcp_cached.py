"""FastMCP with its ResponseCachingMiddleware (in-memory store): an `echo` tool whose calls
are cached, the cached path Keel's L1 hit is compared with. PORT (default 3110)."""
import os

from fastmcp import FastMCP
from fastmcp.server.middleware.caching import ResponseCachingMiddleware

mcp = FastMCP("peer-fastmcp-cached")
mcp.add_middleware(ResponseCachingMiddleware())


@mcp.tool
def echo(text: str) -> str:
    """Echo text back"""
    return text


if __name__ == "__main__":
    mcp.run(
        transport="http",
        host="127.0.0.1",
        port=int(os.environ.get("PORT", "3110")),
        json_response=True,
        stateless_http=True,
        log_level="WARNING",
        show_banner=False,
    )
