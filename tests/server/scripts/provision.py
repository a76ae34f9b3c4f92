#!/usr/bin/env python3
"""A `command` provisioner for tests: what an admin's Terraform/Kubernetes wrapper would do.

    provision.py BASE_DIR <create|start|stop|delete> --workspace-id ID --owner NAME [--param k=v]

`create` makes BASE_DIR/<owner>-<id> and prints {"path": ...} as its last line; every verb is
appended to BASE_DIR/verbs.log; build messages go to stderr (the build log).
"""

import argparse
import json
import sys
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("base")
parser.add_argument("verb", choices=["create", "start", "stop", "delete"])
parser.add_argument("--workspace-id", required=True)
parser.add_argument("--owner", required=True)
parser.add_argument("--param", action="append", default=[])
args = parser.parse_args()
base = Path(args.base)
base.mkdir(parents=True, exist_ok=True)
params = dict(p.split("=", 1) for p in args.param)
with (base / "verbs.log").open("a") as log:
    log.write(f"{args.verb} {args.workspace_id} {args.owner} {json.dumps(params)}\n")
print(f"{args.verb}: workspace {args.workspace_id} for {args.owner}", file=sys.stderr)
if params.get("size") == "huge":
    print("error: no capacity for a huge machine", file=sys.stderr)
    sys.exit(3)
if args.verb == "create":
    folder = base / f"{args.owner}-{args.workspace_id}"
    folder.mkdir()
    print("machine ready", file=sys.stderr)
    print(json.dumps({"path": str(folder)}))
