"""An MCP client nobody here wrote (the official Python SDK, PyPI `mcp`) driving the aiblox
MCP server, for the e2e test `mcp.rs`: it runs the steps the test gives and prints what it saw
as one JSON object.

usage: mcp_client.py http URL [TOKEN]    (the streamable HTTP transport, Bearer TOKEN)
       mcp_client.py stdio COMMAND ARG...  (the stdio transport: starts COMMAND)
The steps come on stdin as JSON: {"search": {...arguments}, "refused": {...}, "bad": {...},
"item_key": "source:external_id", "foreign_key": ..., "foreign_uri": "aiblox://items/N",
"store": {...}, "stored_search": {...}, "delete": {...}}.
"""

import asyncio
import json
import os
import sys

from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client


def server_of(argv):
    if argv[1] == "http":
        headers = {"Authorization": f"Bearer {argv[3]}"} if len(argv) > 3 else {}
        return streamable_http_client(argv[2], http_client=create_mcp_http_client(headers=headers))
    return StdioServerParameters(command=argv[2], args=argv[3:], env=dict(os.environ))


def tool_result(result):
    text = "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")
    return {"is_error": bool(result.is_error), "text": text, "structured": result.structured_content}


async def main():
    steps = json.load(sys.stdin)
    seen = {}
    async with Client(server_of(sys.argv)) as client:
        tools = await client.list_tools()
        seen["tools"] = {tool.name: {"input": tool.input_schema, "has_output": tool.output_schema is not None} for tool in tools.tools}
        templates = await client.list_resource_templates()
        seen["templates"] = [template.uri_template for template in templates.resource_templates]
        search = tool_result(await client.call_tool("search", steps["search"]))
        seen["search"] = search
        passages = (search["structured"] or {}).get("passages", [])
        if passages:
            read = await client.read_resource(passages[0]["uri"])
            seen["resource"] = {"uri": passages[0]["uri"], "text": read.contents[0].text}
        try:
            await client.read_resource("aiblox://items/999999999")
            seen["missing_resource"] = "read"
        except Exception as error:  # the SDK raises the server's protocol error
            seen["missing_resource"] = str(error)
        for name in ("refused", "bad"):
            if name in steps:
                seen[name] = tool_result(await client.call_tool("search", steps[name]))
        if "item_key" in steps:
            seen["item"] = tool_result(await client.call_tool("get_item", {"key": steps["item_key"]}))
        if "foreign_key" in steps:
            seen["foreign_item"] = tool_result(await client.call_tool("get_item", {"key": steps["foreign_key"]}))
        if "foreign_uri" in steps:
            try:
                await client.read_resource(steps["foreign_uri"])
                seen["foreign_resource"] = "read"
            except Exception as error:
                seen["foreign_resource"] = str(error)
        if "store" in steps:
            seen["stored"] = tool_result(await client.call_tool("store", steps["store"]))
            seen["stored_search"] = tool_result(await client.call_tool("search", steps["stored_search"]))
            seen["deleted"] = tool_result(await client.call_tool("delete", steps["delete"]))
            seen["deleted_search"] = tool_result(await client.call_tool("search", steps["stored_search"]))
        seen["sources"] = tool_result(await client.call_tool("list_sources", {}))
    print(json.dumps(seen))


asyncio.run(main())
