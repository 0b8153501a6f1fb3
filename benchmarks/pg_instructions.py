#!/usr/bin/env python3
"""pg_instructions.py - what tracking every allocation costs PostgreSQL in
instructions, which do not depend on the machine's load: the whole server
(postmaster and every child) under callgrind serves `pgbench -c 1 -t N` twice,
with N = SMALL and N = BIG; the instructions of the backends that served
pgbench, BIG minus SMALL, over BIG - SMALL, are the cost of one transaction
(connection start-up cancels out; the server's timer-driven processes are left out).

Usage: python3 benchmarks/pg_instructions.py [--lib PATH] [--configs bare,fp,auto]
       [--small 50] [--big 250]
Configs: bare (Debian's libmimalloc.so.2 preloaded), off (librallo, tracking off),
fp / auto / dwarf (librallo, every allocation tracked with that RALLO_UNWIND),
sampled (every allocation sampled at 512 KiB, auto)."""
import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import as_postgres, free_port, pg_bin, pg_template  # noqa: E402

MIMALLOC = "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"


def config_env(name, lib):
    if name == "bare":
        return {"LD_PRELOAD": MIMALLOC}
    env = {"LD_PRELOAD": lib, "RALLO_ARENA_SIZE": "4g"}
    if name == "off":
        return env
    env["RALLO_ENABLE"] = "1"
    if name == "sampled":
        env.update(RALLO_SAMPLE="512k", RALLO_UNWIND="auto")
    else:
        env["RALLO_UNWIND"] = name
    return env


def server_instructions(env, transactions):
    """Instructions of every process of one PostgreSQL serving `transactions`."""
    template = pg_template()
    work = tempfile.mkdtemp(prefix="rallo-pg-cg-")
    os.chmod(work, 0o755)
    try:
        subprocess.run(["cp", "-a", f"{template}/data", f"{work}/data"], check=True)
        os.makedirs(f"{work}/cg")
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "postgres:postgres", work], check=True)
        port = free_port()
        full_env = dict(os.environ, **env)
        server = subprocess.Popen(
            as_postgres(["valgrind", "--tool=callgrind", "--trace-children=yes",
                         f"--callgrind-out-file={work}/cg/cg.%p", pg_bin("postgres"), "-D", f"{work}/data",
                         "-p", str(port), "-k", work, "-c", "listen_addresses=", "-c", "fsync=off",
                         "-c", "synchronous_commit=off", "-c", "autovacuum=off"]),
            env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            end = time.time() + 300
            ready = [pg_bin("pg_isready"), "-q", "-h", work, "-p", str(port)]
            while time.time() < end and subprocess.run(ready).returncode != 0:
                time.sleep(0.5)
            if subprocess.run(ready).returncode != 0:
                raise RuntimeError("postgres under callgrind did not start")
            time.sleep(3)  # pg_isready's own backends finish writing their counts
            before = set(glob.glob(f"{work}/cg/cg.*"))
            subprocess.run(as_postgres(["pgbench", "-h", work, "-p", str(port), "-U", "postgres", "-n",
                                        "-c", "1", "-t", str(transactions), "postgres"]),
                           check=True, stdout=subprocess.DEVNULL)
            # pgbench's backends (its set-up connection and its one client) write
            # their counts as they exit; the server's other processes write theirs
            # at shut-down and, as they wake on timers, would add noise.
            backends, settled = set(), 0
            end = time.time() + 120
            while time.time() < end and settled < 6:
                now = set(glob.glob(f"{work}/cg/cg.*")) - before
                settled = settled + 1 if now == backends and len(now) >= 2 else 0
                backends = now
                time.sleep(0.5)
        finally:
            # runuser does not pass signals on: ask the postmaster itself for a fast shutdown.
            try:
                with open(f"{work}/data/postmaster.pid") as f:
                    os.kill(int(f.readline()), signal.SIGINT)
            except (OSError, ValueError):
                server.send_signal(signal.SIGINT)
            server.wait(300)
        total = 0
        for path in backends:
            with open(path, errors="replace") as f:
                for line in f:
                    match = re.match(r"(?:summary|totals): (\d+)", line)
                    if match:
                        total += int(match.group(1))
                        break
        if total == 0:
            raise RuntimeError("callgrind wrote no totals for pgbench's backends")
        return total
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lib", default="build/librallo.so")
    parser.add_argument("--configs", default="bare,fp,auto")
    parser.add_argument("--small", type=int, default=50)
    parser.add_argument("--big", type=int, default=250)
    args = parser.parse_args()
    lib = os.path.abspath(args.lib)
    results = {}
    for name in args.configs.split(","):
        env = config_env(name, lib)
        small = server_instructions(env, args.small)
        big = server_instructions(env, args.big)
        results[name] = (big - small) / (args.big - args.small)
        print(f"{name:8s} {results[name]:12.0f} instructions a transaction", flush=True)
    base = results.get("fp") or next(iter(results.values()))
    for name, value in results.items():
        print(f"{name:8s} {value / base:.4f} of {'fp' if 'fp' in results else 'the first'}")


if __name__ == "__main__":
    main()
