#!/usr/bin/env python3
"""Writes a large, valid orch.json for benchmarks: 200 orgs, 20,000 users, 40,000 keys.

Usage: gen_policy.py OUT.json TOKENS.txt
Every user belongs to one org (100 members each), half through a team; each org has 5 servers;
each user has two keys, one scoped and one expiring. TOKENS.txt gets one token a line (the bench
harness looks them up); only their hashes go into the file.
"""
import hashlib
import json
import sys

ORGS, USERS_PER_ORG, SERVERS_PER_ORG = 200, 100, 5


def main(out_path, tokens_path):
    roles = {
        "admin": {"description": "everything", "allow": ["*"]},
        "member": {"allow": ["search", "sheets:read_*", "sheets:get_*", "wiki:*"], "deny": ["wiki:delete_*"]},
        "editor": {"allow": ["sheets", "wiki"], "deny": ["sheets:delete_*"]},
        "ops": {"allow": ["tickets", "deploy:status", "deploy:logs_*"]},
        "viewer": {"allow": ["*:get_*", "*:list_*"]},
        "auditor": {"allow": ["*:read_*"], "deny": ["deploy"]},
    }
    servers = ["search", "sheets", "wiki", "tickets", "deploy"]
    orgs, users, tokens = {}, {}, []
    for o in range(ORGS):
        org = f"org{o:03d}"
        members, team = {}, []
        for m in range(USERS_PER_ORG):
            name = f"u{o:03d}-{m:03d}"
            role = ["admin", "member", "member", "viewer", "ops", "auditor"][m % 6]
            members[name] = role if m % 3 else [role, "viewer"]
            if m % 2:
                team.append(name)
            keys = []
            for k, extra in ((0, {}), (1, {"scope": [f"{org}/sheets:read_*", f"{org}/wiki"], "expires": "2030-01-01"})):
                token = f"orch_bench{o:03d}{m:03d}{k}".ljust(48, "x")
                tokens.append(token)
                key = {"id": f"k{k}", "sha256": hashlib.sha256(token.encode()).hexdigest()}
                key.update(extra)
                keys.append(key)
            users[name] = {"displayName": f"User {o}-{m}", "email": f"{name}@example.com", "keys": keys}
        orgs[org] = {
            "displayName": f"Org {o}",
            "members": members,
            "teams": {"editors": {"members": team, "roles": ["editor"]}},
            "servers": {
                s: {"command": "orch", "args": ["sample-server"], "tools": {"deny": ["run_macro"]}} for s in servers
            },
        }
    doc = {
        "version": 1,
        "gateway": {"listen": "127.0.0.1:8080"},
        "roles": roles,
        "orgs": orgs,
        "users": users,
        "tests": [{"user": "u000-001", "allow": ["org000/sheets:read_sheet"], "deny": ["org001/sheets"]}],
    }
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=2)
    with open(tokens_path, "w") as f:
        f.write("\n".join(tokens) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
