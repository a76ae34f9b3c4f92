#!/usr/bin/env python3
"""A `command` provisioner for tests that hands out SSH workspaces, as an admin's wrapper
around Terraform or a cloud API would: it makes a folder on the build host and prints how to
reach it over SSH.

    provision_ssh.py HOST_JSON BASE_DIR <create|start|stop|delete> --workspace-id ID
        --owner NAME [--param k=v]

HOST_JSON holds the host's connection ({"host", "port", "user", "key_file", "known_hosts"});
`create` prints it with "workdir" (BASE_DIR/<owner>-<id>, created) as its last line.
"""

import argparse
import json
import sys
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("host_json")
parser.add_argument("base")
parser.add_argument("verb", choices=["create", "start", "stop", "delete"])
parser.add_argument("--workspace-id", required=True)
parser.add_argument("--owner", required=True)
parser.add_argument("--param", action="append", default=[])
args = parser.parse_args()
print(f"{args.verb}: SSH workspace {args.workspace_id} for {args.owner}", file=sys.stderr)
if args.verb == "create":
    connection = json.loads(Path(args.host_json).read_text())
    folder = Path(args.base) / f"{args.owner}-{args.workspace_id}"
    folder.mkdir(parents=True)
    print(f"folder {folder} ready on {connection['host']}", file=sys.stderr)
    print(json.dumps({**connection, "workdir": str(folder)}))
