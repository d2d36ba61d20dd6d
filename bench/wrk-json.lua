-- wrk script: after the run, print one line "BENCHJSON {...}" with the numbers run.sh keeps.
-- Latencies in milliseconds; errors split as wrk counts them (status = non-2xx/3xx answers).
done = function(summary, latency, requests)
	local s = summary.duration / 1e6
	local e = summary.errors
	io.write(string.format(
		'BENCHJSON {"requests":%d,"duration_s":%.3f,"req_per_s":%.1f,"bytes":%d,' ..
		'"mb_per_s":%.2f,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
		'"errors":%d,"errors_detail":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
		summary.requests, s, summary.requests / s, summary.bytes,
		summary.bytes / s / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
		latency.max / 1000,
		e.connect + e.read + e.write + e.status + e.timeout,
		e.connect, e.read, e.write, e.status, e.timeout))
end
