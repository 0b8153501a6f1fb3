#!/usr/bin/env python3
"""pgbench_exit_dumps.py - PostgreSQL with a backend per connection
(`pgbench -C -S`), every backend dumping at exit (RALLO_DUMP_ON_EXIT=1,
formats json,pprof): transactions a second, interleaved over rounds, for
  none     no rallo;
  alone    rallo, each backend's helper converting its own dump (as before
           one converting helper per directory: a dump directory others may
           read, 0755, where helpers take no lock);
  batched  rallo as it is: one converting helper at a time names every dump.
Also counts the dumps written and named. Run as root (PostgreSQL runs as
postgres). Uses benchmarks/servers.py's cluster template.

usage: pgbench_exit_dumps.py [--rounds R] [--seconds S] LIBRALLO.so
"""
import argparse
import json
import os
import pwd
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402  (the template cluster and helpers)


def run(lib, way, seconds):
    template = servers.pg_template()
    work = tempfile.mkdtemp(prefix="rallo-pg-exit-")
    os.chmod(work, 0o755)
    pg = pwd.getpwnam("postgres")
    dumps = os.path.join(work, "dumps")
    try:
        subprocess.run(["cp", "-a", f"{template}/data", f"{work}/data"], check=True)
        os.mkdir(dumps, 0o700)
        for path in (work, dumps):
            os.chown(path, pg.pw_uid, pg.pw_gid)
        if way == "alone":
            os.chmod(dumps, 0o755)
        port = servers.free_port()
        env = dict(os.environ)
        if way != "none":
            env.update(LD_PRELOAD=lib, RALLO_ENABLE="1", RALLO_DUMP_ON_EXIT="1", RALLO_DUMP_DIR=dumps,
                       RALLO_DUMP_FORMATS="json,pprof")
        server = subprocess.Popen(servers.as_postgres([servers.pg_bin("postgres"), "-D", f"{work}/data", "-p",
                                                       str(port), "-k", work, "-c", "listen_addresses=",
                                                       "-c", "fsync=off", "-c", "synchronous_commit=off"]),
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            end = time.time() + 20
            while time.time() < end and not os.path.exists(f"{work}/.s.PGSQL.{port}"):
                time.sleep(0.1)
            time.sleep(0.5)
            clean = {k: v for k, v in os.environ.items() if not k.startswith("RALLO_") and k != "LD_PRELOAD"}
            load = subprocess.run(servers.as_postgres(["pgbench", "-h", work, "-p", str(port), "-U", "postgres",
                                                       "-C", "-c", "2", "-j", "2", "-S", "-T", str(seconds),
                                                       "postgres"]),
                                  env=clean, capture_output=True, text=True, timeout=seconds + 120)
            match = re.search(r"tps = ([\d.]+)", load.stdout)
            if not match:
                raise RuntimeError("pgbench: " + load.stdout[-300:] + load.stderr[-300:])
            tps = float(match.group(1))
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        time.sleep(3)  # the last helpers
        written = named = 0
        for name in os.listdir(dumps):
            if not name.endswith(".final.json"):
                continue
            written += 1
            try:
                with open(os.path.join(dumps, name)) as f:
                    sites = json.load(f)["sites"]
                named += any("+0x" not in (fr.get("function") or "+0x") for s in sites for fr in s["frames"])
            except (OSError, ValueError):
                pass
        return tps, written, named
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("lib")
    args = parser.parse_args()
    lib = os.path.abspath(args.lib)
    ways = ["none", "alone", "batched"]
    results = {w: [] for w in ways}
    for _ in range(args.rounds):
        for way in ways:
            results[way].append(run(lib, way, args.seconds))
    print("pgbench -C -c 2 -j 2 -S -T %d, RALLO_DUMP_ON_EXIT=1 (json,pprof), %d rounds" % (args.seconds, args.rounds))
    print("| way | tps (median) | tps each round | exit dumps json written / named |")
    print("| --- | ---: | --- | --- |")
    for way in ways:
        rows = results[way]
        print("| %s | %.1f | %s | %d / %d |" % (way, statistics.median(r[0] for r in rows),
                                             ", ".join("%.1f" % r[0] for r in rows),
                                             sum(r[1] for r in rows), sum(r[2] for r in rows)))


if __name__ == "__main__":
    main()
