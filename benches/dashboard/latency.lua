-- wrk: one line per run, `requests_per_s p50_ms p95_ms p99_ms non2xx requests`, for the benchmark's table.
local errors = 0
response = function(status)
  if status >= 400 then errors = errors + 1 end
end
done = function(summary, latency)
  io.write(string.format("RESULT %.0f %.2f %.2f %.2f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    errors + summary.errors.status, summary.requests))
end
