-- wrk script: POST one chat completion; prints p50/p99 (ms) and requests/s as one JSON line.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
wrk.body = '{"model":"' .. (os.getenv("MODEL") or "gpt-4o") .. '","messages":[{"role":"user","content":"hi"}]}'

done = function(summary, latency, requests)
  io.write(string.format('{"p50_ms":%.3f,"p99_ms":%.3f,"rps":%.1f,"errors":%d,"non2xx":%d}\n',
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
