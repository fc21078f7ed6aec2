"""Parses a Prometheus text exposition from stdin with the official Python client's parser
(an implementation independent of the server's) and prints it as JSON:
{"family": {"type": "...", "samples": [[name, {labels}, value], ...]}, ...}.
Exits non-zero (the parser's error on stderr) when the text is not valid exposition."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    out[fam.name] = {
        "type": fam.type,
        "samples": [[s.name, s.labels, s.value] for s in fam.samples],
    }
print(json.dumps(out))
