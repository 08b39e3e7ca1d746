-- wrk script: the exact request keel bench sends in the modern era (tools/call of $TOOL with
-- $ARGS, `_meta` with version, capabilities and client info), so both generators move the
-- same bytes. Prints one RESULT line (mean_us too: with Little's law, connections / req/s, it
-- shows how much of each request's cycle a generator leaves out of its latency).
local tool = os.getenv("TOOL") or "echo"
local args = os.getenv("ARGS") or '{"text":"hello"}'
local version = os.getenv("KEEL_VERSION") or "0.1.0"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = tool
-- A static body (the id stays 1048577): wrk then sends pre-formatted bytes without running
-- Lua per request, its fastest mode.
wrk.body = '{"jsonrpc":"2.0","id":1048577,"method":"tools/call","params":{"name":"' .. tool ..
  '","arguments":' .. args .. ',"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",' ..
  '"io.modelcontextprotocol/clientCapabilities":{"elicitation":{"form":{}},"sampling":{},"roots":{}},' ..
  '"io.modelcontextprotocol/clientInfo":{"name":"keel-bench","version":"' .. version .. '"}}}}'
-- No `response` hook: Lua per answer would slow wrk down; non-2xx answers still count in
-- summary.errors.status.
done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f reqs=%d p50_us=%d p99_us=%d mean_us=%.1f errors=%d\n",
    summary.requests / (summary.duration / 1e6), summary.requests, latency:percentile(50),
    latency:percentile(99), latency.mean, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout + summary.errors.status))
end
