-- wrk script: the exact request keel bench sends in the modern era (tools/call of $TOOL with
-- $ARGS, `_meta` with version, capabilities and client info), so both generators move the
-- same bytes. Prints one RESULT line.
local tool = os.getenv("TOOL") or "echo"
local args = os.getenv("ARGS") or '{"text":"hello"}'
local version = os.getenv("KEEL_VERSION") or "0.1.0"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = tool
local n = 1048576
request = function()
  n = n + 1
  local body = '{"jsonrpc":"2.0","id":' .. n .. ',"method":"tools/call","params":{"name":"' .. tool ..
    '","arguments":' .. args .. ',"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",' ..
    '"io.modelcontextprotocol/clientCapabilities":{"elicitation":{"form":{}},"sampling":{},"roots":{}},' ..
    '"io.modelcontextprotocol/clientInfo":{"name":"keel-bench","version":"' .. version .. '"}}}}'
  return wrk.format(nil, nil, nil, body)
end
local bad = 0
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"result"') then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f reqs=%d p50_us=%d p99_us=%d errors=%d bad=%d\n",
    summary.requests / (summary.duration / 1e6), summary.requests, latency:percentile(50),
    latency:percentile(99), summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout + summary.errors.status, bad))
end
