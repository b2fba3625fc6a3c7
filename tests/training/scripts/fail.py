"""Fails: with a reason in output/failure when asked (--reason), else just a nonzero exit."""
import argparse
import os
import sys

p = argparse.ArgumentParser()
p.add_argument("--reason", default="")
a = p.parse_args()
print("about to fail", flush=True)
if a.reason:
    with open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as f:
        f.write(a.reason)
print("Traceback: ValueError: the data is bad", file=sys.stderr, flush=True)
sys.exit(3)
