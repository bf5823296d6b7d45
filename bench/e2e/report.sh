#!/usr/bin/env bash
# Prints the tables of a bench/run.sh JSON result: bench/e2e/report.sh bench/results/latest.json
set -euo pipefail
jq -r '
  def f($d): if . == null then "-" elif type == "number" then (if $d == 0 then (round | tostring)
             else ((. * pow(10; $d) | round) / pow(10; $d) | tostring) end) else tostring end;
  def rp($w): tostring | (" " * ([$w - length, 0] | max)) + .;
  def lp($w): tostring | . + (" " * ([$w - length, 0] | max));
  def trip($d): "\(.p50|f(0))/\(.p99|f(0))/\(.p999|f(0))";
  def ok: if . == true then "ok" elif . == false then "MISSED" else "-" end;
  . as $r
  | ["200B", "10KB", "60KB", "sse"] as $ps
  | ["gateway", "authsvc", "usagesvc", "fallbacksvc", "fake", "relay"] as $procs
  | "Luna end-to-end benchmark  \($r.date)  commit \($r.commit)\(if $r.quick then "  (QUICK)" else "" end)",
    "machine: \($r.machine.cpu), \($r.machine.cores) cores, kernel \($r.machine.kernel), load at end \($r.machine.loadavg_at_end)",
    "settings: wrk \($r.settings.wrk_connections) connections x \($r.settings.throughput_seconds) s; open loop \($r.settings.open_loop_rate) and \($r.settings.open_loop_low_rate) req/s (streams \($r.settings.sse_rate)/s) x \($r.settings.latency_seconds) s; gateway threads \($r.settings.gateway_threads); fake upstream threads \($r.settings.fake_upstream_threads)",
    "payloads: 200B = one short message; 10KB, 60KB = OpenClaw-like (system blocks with cache_control, 12 tools, tool_use/tool_result); sse = 200 B request, answer of \($r.settings.sse_events) text deltas (\($r.settings.sse_events + 5) events; in the latency phase one every \($r.settings.sse_interval_ms_latency // 0) ms, in the throughput phase all at once)",
    "",
    "THROUGHPUT (wrk, closed loop, \($r.settings.wrk_connections) connections)",
    "\("payload"|lp(8))\("straight req/s"|rp(16))\("gateway req/s"|rp(16))\("ratio"|rp(8))\("relay req/s"|rp(14))\("relay ratio"|rp(13))\("wrk errors s/g/r"|rp(18))",
    ($ps[] as $p | $r.payloads[$p].throughput as $t
      | "\($p|lp(8))\($t.straight_rps|f(0)|rp(16))\($t.gateway_rps|f(0)|rp(16))\($t.ratio|f(2)|rp(8))\($t.relay_rps|f(0)|rp(14))\($t.relay_ratio|f(2)|rp(13))\(
         "\([$t.straight.errors[]] | add)/\([$t.gateway.errors[]] | add)/\([($t.relay.errors // {})[]] | add // "-")"|rp(18))"),
    "(relay: a byte relay in front of the fake, bench/relay: the same two loopback hops with no work of its own, the floor of any proxy here)",
    (["200B", "60KB"][] as $p | $r.payloads[$p].throughput.paired as $tp | if $tp == null then empty else
      "paired rounds, \($p) (straight, gateway and relay take turns, \($r.settings.paired_throughput_seconds) s each): ratios \([$tp.rounds[].ratio | f(2)] | join(", ")), median \($tp.median.ratio|f(2)) (relay \([$tp.rounds[].relay_ratio | f(2)] | join(", ")), median \($tp.median.relay_ratio|f(2)))" end),
    "",
    (("latency", "latency_low") as $k
    | ($ps | map(select($r.payloads[.][$k] != null))) as $lps
    | (if ($lps | length) == 0 then empty else
      "LATENCY (open loop at \($r.payloads[$lps[0]][$k].straight.rate|f(0)) req/s\(if $lps | index("sse") then " (sse: \($r.payloads.sse[$k].straight.rate|f(0)) streams/s)" else "" end), us from the scheduled send to the last byte)",
      "\("payload"|lp(8))\("straight p50/p99/p99.9"|rp(26))\("gateway p50/p99/p99.9"|rp(26))\("added p50"|rp(11))\("added p99"|rp(11))\("added p99.9"|rp(12))\("relay added p50/p99"|rp(21))\("errors s/g"|rp(12))",
      ($lps[] as $p | $r.payloads[$p][$k] as $l
        | "\($p|lp(8))\($l.straight.latency_us|trip(0)|rp(26))\($l.gateway.latency_us|trip(0)|rp(26))\($l.added_us.p50|f(0)|rp(11))\($l.added_us.p99|f(0)|rp(11))\($l.added_us.p999|f(0)|rp(12))\(
           "\($l.relay_added_us.p50|f(0))/\($l.relay_added_us.p99|f(0))"|rp(21))\(
           "\($l.straight.errors + $l.straight.io_errors + $l.straight.unfinished)/\($l.gateway.errors + $l.gateway.io_errors + $l.gateway.unfinished)"|rp(12))"),
      "" end)),
    "STREAMS (sse, open loop at \($r.settings.sse_rate) streams/s, us from the scheduled send; p50/p99/p99.9)",
    "\(""|lp(10))\("TTFB"|rp(24))\("first event"|rp(24))\("inter-event"|rp(20))\("whole stream"|rp(24))\("events/stream"|rp(15))",
    (["straight", "gateway", "relay"][] as $t | $r.payloads.sse.latency[$t] as $l | select($l != null)
      | "\($t|lp(10))\($l.ttfb_us|trip(0)|rp(24))\($l.first_event_us|trip(0)|rp(24))\($l.inter_event_us|trip(0)|rp(20))\($l.latency_us|trip(0)|rp(24))\(
         "\($l.events_per_stream.min)-\($l.events_per_stream.max)\(if $l.event_count_mismatch > 0 then " (\($l.event_count_mismatch) wrong)" else "" end)"|rp(15))"),
    "added TTFB: p50 \($r.payloads.sse.latency.added_ttfb_us.p50|f(0)) us, p99 \($r.payloads.sse.latency.added_ttfb_us.p99|f(0)) us; added time to first event p50 \($r.payloads.sse.latency.added_ttfb_us.first_event_p50|f(0)) us; through the relay: p50 \($r.payloads.sse.latency.added_ttfb_us.relay_p50|f(0)) us, p99 \($r.payloads.sse.latency.added_ttfb_us.relay_p99|f(0)) us",
    "",
    "CPU TIME PER REQUEST (us, utime+stime from /proc; throughput phase [latency phase at \($r.settings.open_loop_rate) req/s; sse \($r.settings.sse_rate)/s])",
    "\("payload"|lp(8))\("route"|lp(10))\($procs | map(rp(17)) | join(""))",
    ($ps[] as $p | ["straight", "gateway", "relay"][] as $t | $r.payloads[$p].cpu_us_per_request as $c
      | "\($p|lp(8))\($t|lp(10))\($procs | map(. as $n | "\($c.throughput[$t][$n]|f(1)) [\($c.latency[$t][$n]|f(1))]" | rp(17)) | join(""))"),
    "",
    "MEMORY (MB: peak RSS = VmHWM over the whole run / RSS at the end)",
    "\($procs | map(rp(17)) | join(""))",
    "\($procs | map(. as $n | "\($r.memory[$n].peak_rss_kb / 1024 | f(1)) / \($r.memory[$n].rss_kb / 1024 | f(1))" | rp(17)) | join(""))",
    (if ($r.memory.gateway_rss_kb_after_throughput // []) == [] then empty else
      "gateway RSS after each saturation phase (MB, requests through it so far): \([foreach $r.memory.gateway_rss_kb_after_throughput[] as $x (0; . + $x.requests; "\($x.payload) \($x.rss_kb / 1024 | f(1)) (\(. / 1e6 | f(2)) M)") ] | join(", "))" end),
    "",
    "USAGE CHECK (ledger GET /admin/usage vs fake upstream GET /_control/stats, gateway traffic; events pending \($r.usage_check.total.events_pending))",
    "  \("" | lp(24))\(["requests", "input", "output", "cache_read", "cache_write"] | map(rp(13)) | join(""))\("  equal"|lp(8))",
    (["fake_upstream", "ledger"][] as $s | $r.usage_check.total[$s] as $u
      | "  \("whole run: \($s)"|lp(24))\(["requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"] | map(. as $k | $u[$k] | f(0) | rp(13)) | join(""))\(if $s == "ledger" then "  " + (if $r.usage_check.total.equal then "yes" else "NO" end) else "" end)"),
    ($r.usage_check.phases | to_entries[] | .key as $k | .value as $v | select($v != null)
      | (["fake_upstream", "ledger"][] as $s | $v[$s] as $u
        | "  \("\($k): \(if $s == "ledger" then "ledger" else "fake" end)"|lp(24))\(["requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"] | map(. as $kk | $u[$kk] | f(0) | rp(13)) | join(""))\(if $s == "ledger" then "  " + (if $v.equal then "yes" else "no: \($v.extra_requests) more requests, input \($v.short_by_requests|f(1)) requests short; \($v.cut) cut" end) else "" end)")),
    "  requests cut by the load generators at the end of a phase: \($r.usage_check.cut_by_load_generator) (wrk stops with all its connections busy: the fake counts",
    "  an answer once written whole, the gateway records a request the client dropped as partial, with the tokens it had read;",
    "  a stream cut before the fake finished it is in the ledger only: \"more requests\")",
    "",
    (("latency", "latency_low") as $k
    | ($ps | map(select($r.payloads[.][$k].gateway_own_us != null))) as $ops
    | (if ($ops | length) == 0 then empty else
      "GATEWAY OWN TIME at \($r.payloads[$ops[0]][$k].straight.rate|f(0)) req/s (inside the process: request read to answer end, minus the time to the upstream first byte; upper bounds of luna_gateway_own_seconds buckets)",
      ($ops[] as $p | $r.payloads[$p][$k].gateway_own_us as $o
        | "\($p|lp(8))p50 <= \($o.p50_le_us // "?") us, p90 <= \($o.p90_le_us // "?") us, p99 <= \($o.p99_le_us // "?") us  (\($o.n) requests)"),
      "" end)),
    ($r.payloads["60KB"].latency.paired as $pr | if $pr == null then empty else
    "PAIRED ROUNDS (60KB at \($r.settings.open_loop_rate) req/s: straight, gateway and relay take turns, \($r.settings.paired_seconds) s each; us)",
    "round   straight p50  gateway p50  added p50  added p99  relay added p50/p99  errors",
    ($pr.rounds[] | "\(.round|tostring|lp(6))\(.straight_p50|f(0)|rp(13))\(.gateway_p50|f(0)|rp(13))\(.added_p50|f(0)|rp(11))\(.added_p99|f(0)|rp(11))\("\(.relay_added_p50|f(0))/\(.relay_added_p99|f(0))"|rp(21))\(.errors|tostring|rp(8))"),
    "median\("" | rp(26))\($pr.median.added_p50|f(0)|rp(11))\($pr.median.added_p99|f(0)|rp(11))\("\($pr.median.relay_added_p50|f(0))/\($pr.median.relay_added_p99|f(0))"|rp(21))",
    "" end),
    (if $r.open_streams == null then empty else
    "OPEN STREAMS (\($r.open_streams.streams) streams of \($r.settings.sse_events + 5) events 60 ms apart, 250 started per second)",
    "  at most \($r.open_streams.max_open_client_connections) open at once; whole \($r.open_streams.whole), errors \($r.open_streams.errors), unfinished \($r.open_streams.unfinished)",
    "  gateway RSS \($r.open_streams.gateway_rss_before_kb / 1024 | f(1)) MB before, \($r.open_streams.gateway_rss_peak_kb / 1024 | f(1)) MB at the peak: \($r.open_streams.per_stream_kb) kB per open stream",
    "" end),
    "TARGETS (issue 6)",
    "  added latency 60KB at \($r.settings.open_loop_rate) req/s: p50 \($r.payloads["60KB"].latency.added_us.p50|f(0)) us <= 100 us: \($r.targets.added_latency_60KB_p50_le_100us|ok); p99 \($r.payloads["60KB"].latency.added_us.p99|f(0)) us <= 1000 us: \($r.targets.added_latency_60KB_p99_le_1ms|ok)",
    ($r.payloads["60KB"].latency.paired as $pr | if $pr == null then empty else
    "  the same, median of \($pr.rounds|length) paired rounds: p50 \($pr.median.added_p50|f(0)) us <= 100 us: \($r.targets.added_latency_60KB_paired_median_p50_le_100us|ok); p99 \($pr.median.added_p99|f(0)) us <= 1000 us: \($r.targets.added_latency_60KB_paired_median_p99_le_1ms|ok) (relay: \($pr.median.relay_added_p50|f(0)) / \($pr.median.relay_added_p99|f(0)) us)" end),
    "  throughput gateway/straight >= 0.50: 200B \($r.payloads["200B"].throughput.ratio|f(2)): \($r.targets.throughput_200B_ge_50pct|ok); 60KB \($r.payloads["60KB"].throughput.ratio|f(2)): \($r.targets.throughput_60KB_ge_50pct|ok)",
    (if $r.payloads["200B"].throughput.paired == null then empty else
    "  the same, median of \($r.payloads["200B"].throughput.paired.rounds|length) paired rounds: 200B \($r.payloads["200B"].throughput.paired.median.ratio|f(2)): \($r.targets.throughput_200B_paired_median_ge_50pct|ok); 60KB \($r.payloads["60KB"].throughput.paired.median.ratio|f(2)): \($r.targets.throughput_60KB_paired_median_ge_50pct|ok)" end),
    (if $r.payloads["60KB"].latency.gateway_own_us == null then empty else
    "  (gateway own time, 60KB at \($r.settings.open_loop_rate) req/s: p50 <= \($r.payloads["60KB"].latency.gateway_own_us.p50_le_us // "?") us, p99 <= \($r.payloads["60KB"].latency.gateway_own_us.p99_le_us // "?") us; the rest of the added latency is outside the process)" end),
    "  streams: added TTFB p50 \($r.payloads.sse.latency.added_ttfb_us.p50|f(0)) us <= 200 us: \($r.targets.added_ttfb_sse_p50_le_200us|ok)",
    (if $r.open_streams == null then empty else
    "  memory: gateway peak RSS \(($r.open_streams.gateway_rss_peak_kb // 0) / 1024 | f(1)) MB with \($r.open_streams.max_open_client_connections) streams open <= 100 MB: \($r.targets.gateway_rss_1000_streams_le_100MB|ok)" end),
    (if $r.targets.floor == null then empty else
    "  the same thresholds for the byte relay (the floor of any proxy on this machine): 60KB added p50 \($r.payloads["60KB"].latency.relay_added_us.p50|f(0)) us: \($r.targets.floor.added_latency_60KB_p50_le_100us|ok); p99 \($r.payloads["60KB"].latency.relay_added_us.p99|f(0)) us: \($r.targets.floor.added_latency_60KB_p99_le_1ms|ok); ratio 200B \($r.payloads["200B"].throughput.relay_ratio|f(2)): \($r.targets.floor.throughput_200B_ge_50pct|ok); 60KB \($r.payloads["60KB"].throughput.relay_ratio|f(2)): \($r.targets.floor.throughput_60KB_ge_50pct|ok); added TTFB p50 \($r.payloads.sse.latency.added_ttfb_us.relay_p50|f(0)) us: \($r.targets.floor.added_ttfb_sse_p50_le_200us|ok)" end),
    "  usage ledger vs the upstream counts, every phase equal or off by no more than the requests the load generator cut: \($r.targets.usage_ledger_matches_upstream|ok) (whole run equal: \(if $r.usage_check.equal then "yes" else "no, with \($r.usage_check.cut_by_load_generator) requests cut" end))"
' "$1"
