#!/usr/bin/env python3
"""Every program in bench/ answers --help with its usage on stdout (exit 0, before touching
any data) and refuses an option it does not know (exit 2, usage on stderr).
Arguments: the programs' paths."""
import os, subprocess, sys

failures = 0
for prog in sys.argv[1:]:
    name = os.path.basename(prog)
    r = subprocess.run([prog, "--help"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or not r.stdout.startswith("Usage: " + name) or len(r.stdout.splitlines()) < 4:
        failures += 1
        print(f"FAIL: {name} --help: exit {r.returncode}, stdout {r.stdout[:200]!r}")
    r = subprocess.run([prog, "--no-such-option"], capture_output=True, text=True, timeout=60)
    if r.returncode != 2 or "Usage" not in r.stderr:
        failures += 1
        print(f"FAIL: {name} --no-such-option: exit {r.returncode} (want 2), stderr {r.stderr[:200]!r}")
print(f"bench programs: {len(sys.argv) - 1} checked, {failures} failures")
sys.exit(1 if failures or len(sys.argv) < 2 else 0)
