# The example of docs/report.md: three hosts in one curtailment (EEA-7, 17:00-17:15 UTC), 5 s telemetry.
# Run in this directory: python3 generate.py
import json, datetime, math
t0 = datetime.datetime(2026,12,7,17,0,0,tzinfo=datetime.timezone.utc).timestamp()
def iso(t): return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % int(round((t % 1) * 1000) % 1000)
hosts = {
 # host: (source list, baseline W, idle W, response s, gap)
 'miner-01': ([('sunspec', False), ('model', True)], 412.0, 18.0, 4, None),
 'miner-02': ([('rapl', False)], 265.0, 9.0, 2, (t0 + 300, t0 + 360)),
 'miner-03': ([('model', True)], 3250.0, 120.0, 1, None),
}
step = 5
for host, (sources, base, idle, resp, gap) in hosts.items():
    lines = []
    e = {s: 0.0 for s, _ in sources}
    t = t0 - 20 * 60
    while t < t0 + 25 * 60:
        for s, modelled in sources:
            w = base if (t < t0 + resp or t >= t0 + 900 + resp) else idle
            if s == 'sunspec': w += 6 * math.sin(t / 37.0)
            if s == 'model': w = base if (t < t0 or t >= t0 + 900) else idle
            failed = gap is not None and gap[0] <= t < gap[1]
            e[s] += w * step
            rec = {"time": iso(t), "mono_s": round(t - t0 + 86400.25, 3), "host": host, "source": s, "modelled": modelled,
                   "watts": None if failed else round(w, 1), "energy_j": round(e[s], 1),
                   "capacity": 1 if (t < t0 or t >= t0 + 900) else 0,
                   "state": "mining" if (t < t0 or t >= t0 + 900) else "curtailed",
                   "curtailments": [] if (t < t0 or t >= t0 + 900) else ["EEA-7"]}
            if failed: rec["error"] = "rapl: energy_uj unreadable (EACCES)"
            lines.append(json.dumps(rec, separators=(',', ':')))
        t += step
    if host == 'miner-02': lines.append('not json')  # one broken line, reported by name
    open(f'telemetry-{host}.jsonl', 'w').write('\n'.join(lines) + '\n')
    d = [
      {"capacity_after":0,"capacity_before":1,"event":"signal","id":"EEA-7","level":1,"ok":True,"reason":"curtail 1 (EEA-7): ERCOT EEA","source":"openadr","time":iso(t0),"type":"curtail","until":iso(t0+900)},
      {"action":"halt","capacity_after":0,"capacity_before":1,"event":"action","halt_latency_ms":0.21,"reason":"curtail 1 (EEA-7): ERCOT EEA; curtailment 1","receipt_to_halted_ms":1.19,"time":iso(t0+0.002)},
      {"action":"resume","capacity_after":1,"capacity_before":0,"event":"action","reason":"curtailment EEA-7 expired; price below break-even","resume_latency_ms":0.12,"time":iso(t0+900.05)},
    ]
    open(f'decisions-{host}.jsonl', 'w').write('\n'.join(json.dumps(x, separators=(',', ':'), sort_keys=True) for x in d) + '\n')
