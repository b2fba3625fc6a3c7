"""A steady load on an endpoint: a few keep-alive connections sending the same request until
STOP_FILE exists, then a summary: requests, failures, and how many each version answered.
Usage: load_loop.py URL STOP_FILE [--connections 4]"""
import argparse
import collections
import http.client
import json
import os
import threading
import urllib.parse

p = argparse.ArgumentParser()
p.add_argument("url")
p.add_argument("stop_file")
p.add_argument("--connections", type=int, default=4)
args = p.parse_args()
u = urllib.parse.urlparse(args.url)
body = json.dumps([[0.1 * i for i in range(10)]])
versions, failures, lock = collections.Counter(), [], threading.Lock()


def loop():
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    while not os.path.exists(args.stop_file):
        try:
            conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            with lock:
                if r.status == 200:
                    versions[r.getheader("X-Cairn-Model-Version")] += 1
                else:
                    failures.append(r.status)
        except Exception as e:
            with lock:
                failures.append(repr(e))
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)


threads = [threading.Thread(target=loop) for _ in range(args.connections)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"requests": sum(versions.values()) + len(failures), "failed": len(failures),
                  "answered_by": dict(sorted(versions.items()))}))
