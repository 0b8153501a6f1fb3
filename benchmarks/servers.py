#!/usr/bin/env python3
"""servers.py - what tracking every allocation costs two real servers, Debian's
nginx (gzip over loopback, loaded by ab) and PostgreSQL (pgbench), under each
RALLO_UNWIND mode: peak and anonymous memory of every server process, and
throughput. Rounds are interleaved (a b c, then c b a, ...) and the median is
reported, so drift on a shared machine cancels.

Usage: python3 benchmarks/servers.py [--lib LABEL=PATH ...] [--modes fp,auto | --matrix]
       [--rounds N] [--servers nginx,postgres] [--seconds S]
LABEL=PATH names a librallo to preload (default: build/librallo.so as `rallo`);
each library runs under each mode. Needs nginx-light (or nginx), apache2-utils
and postgresql (scripts/deps.sh test). Only the standard library is used."""
import argparse
import glob
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid, field):
    """A VmHWM/RssAnon-style field of /proc/PID/status in KiB, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid, waited=False):
    """utime + stime of a process (with waited: plus its reaped children's), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if waited else 0)
    return ticks / TICK


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


class Watch:
    """Samples VmHWM and RssAnon of a process tree; keeps each pid's highest."""

    def __init__(self, root):
        self.root = root
        self.seen = {}  # pid -> (hwm, anon)
        self.cpu = {}  # pid -> last CPU seconds seen

    def sample(self):
        for pid in [self.root] + children(self.root):
            hwm, anon = status_kib(pid, "VmHWM"), status_kib(pid, "RssAnon")
            if hwm is None or anon is None:
                continue
            old = self.seen.get(pid, (0, 0))
            self.seen[pid] = (max(old[0], hwm), max(old[1], anon))
            cpu = cpu_seconds(pid, waited=pid == self.root)
            if cpu is not None:
                self.cpu[pid] = cpu


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


NGINX_CONF = """
daemon off;
master_process on;
worker_processes 2;
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    gzip on;
    gzip_types text/plain;
    gzip_min_length 0;
    gzip_http_version 1.0;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
    }}
}}
"""


def server_env(lib, settings):
    """The server's environment: this one's with LD_PRELOAD=lib and the
    configuration's variables (none for bare mimalloc or rallo off)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RALLO_")}
    if lib:
        env.update(settings, LD_PRELOAD=lib)
    return env


def run_nginx(lib, settings, seconds):
    """(requests a second, [(hwm, anon) KiB of master, then workers])."""
    work = tempfile.mkdtemp(prefix="rallo-nginx-")
    try:
        os.makedirs(f"{work}/www")
        with open(f"{work}/www/page.txt", "w") as f:
            # 64 KiB of text that compresses like prose.
            words = ["allocation", "site", "frame", "pointer", "stack", "memory", "heap", "unwind"]
            line = 0
            while f.tell() < 65536:
                f.write(" ".join(words[(line * 7 + i * 3) % len(words)] for i in range(12)) + f" {line}\n")
                line += 1
        port = free_port()
        with open(f"{work}/nginx.conf", "w") as f:
            f.write(NGINX_CONF.format(dir=work, port=port))
        env = server_env(lib, settings)
        server = subprocess.Popen(["nginx", "-c", f"{work}/nginx.conf", "-p", work], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not wait_port(port):
                raise RuntimeError("nginx did not start: " + open(f"{work}/error.log").read()[-500:])
            watch = Watch(server.pid)
            watch.sample()
            start_cpu = dict(watch.cpu)
            load = subprocess.Popen(["ab", "-q", "-k", "-t", str(seconds), "-n", "10000000", "-c", "4",
                                     "-H", "Accept-Encoding: gzip", f"http://127.0.0.1:{port}/page.txt"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            while load.poll() is None:
                watch.sample()
                time.sleep(0.2)
            out = load.stdout.read()
            watch.sample()
            match = re.search(r"Requests per second:\s+([\d.]+)", out)
            done = re.search(r"Complete requests:\s+(\d+)", out)
            if not match or not done:
                raise RuntimeError("ab: " + out[-500:])
            procs = [watch.seen[server.pid]] + [v for p, v in sorted(watch.seen.items()) if p != server.pid]
            cpu = sum(watch.cpu.values()) - sum(start_cpu.get(p, 0) for p in watch.cpu)
            return float(match.group(1)), 1e6 * cpu / int(done.group(1)), procs
        finally:
            server.send_signal(signal.SIGQUIT)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def nginx_instructions(lib, settings, requests):
    """callgrind's instruction count of nginx in one process (no master)
    serving `requests` gzip requests one at a time, start-up included."""
    work = tempfile.mkdtemp(prefix="rallo-nginx-cg-")
    try:
        os.makedirs(f"{work}/www")
        with open(f"{work}/www/page.txt", "w") as f:
            line = 0
            while f.tell() < 65536:
                f.write(f"allocation site frame pointer stack memory heap unwind {line}\n")
                line += 1
        port = free_port()
        conf = NGINX_CONF.format(dir=work, port=port).replace("master_process on;", "master_process off;")
        with open(f"{work}/nginx.conf", "w") as f:
            f.write(conf)
        env = server_env(lib, dict(settings, RALLO_ARENA_SIZE="4g"))
        server = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", "nginx",
                                   "-c", f"{work}/nginx.conf", "-p", work], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            if not wait_port(port, timeout=120):
                raise RuntimeError("nginx under callgrind did not start")
            subprocess.run(["ab", "-q", "-n", str(requests), "-c", "1", "-H", "Accept-Encoding: gzip",
                            f"http://127.0.0.1:{port}/page.txt"], check=True, stdout=subprocess.DEVNULL)
        finally:
            server.send_signal(signal.SIGQUIT)
            err = server.communicate(timeout=120)[1]
        match = re.search(r"Collected : (\d+)", err)
        if not match:
            raise RuntimeError("callgrind: " + err[-500:])
        return int(match.group(1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pg_bin(name):
    for version in sorted(os.listdir("/usr/lib/postgresql"), reverse=True):
        path = f"/usr/lib/postgresql/{version}/bin/{name}"
        if os.path.exists(path):
            return path
    raise RuntimeError(f"no PostgreSQL {name}")


def as_postgres(argv):
    """PostgreSQL refuses to run as root: run as the postgres user then."""
    return ["runuser", "-u", "postgres", "--"] + argv if os.geteuid() == 0 else argv


PG_TEMPLATE = None


def pg_template():
    """One initdb'd and pgbench-initialised cluster, copied for every run."""
    global PG_TEMPLATE
    if PG_TEMPLATE:
        return PG_TEMPLATE
    base = tempfile.mkdtemp(prefix="rallo-pg-template-")
    os.chmod(base, 0o755)
    data = f"{base}/data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    subprocess.run(as_postgres([pg_bin("initdb"), "-D", data, "-A", "trust", "-U", "postgres"]),
                   check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    subprocess.run(as_postgres([pg_bin("pg_ctl"), "-D", data, "-l", f"{base}/log", "-w", "-o",
                                f"-p {port} -k {base} -c listen_addresses=''", "start"]),
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(as_postgres(["pgbench", "-h", base, "-p", str(port), "-U", "postgres", "-i", "-s", "4",
                                "postgres"]), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(as_postgres([pg_bin("pg_ctl"), "-D", data, "-w", "stop"]), check=True,
                   stdout=subprocess.DEVNULL)
    PG_TEMPLATE = base
    return base


def run_postgres(lib, settings, seconds):
    """(transactions a second, [(hwm, anon) KiB of postmaster, then its children])."""
    template = pg_template()
    work = tempfile.mkdtemp(prefix="rallo-pg-")
    os.chmod(work, 0o755)
    try:
        subprocess.run(["cp", "-a", f"{template}/data", f"{work}/data"], check=True)
        if os.geteuid() == 0:
            shutil.chown(work, "postgres", "postgres")
        port = free_port()
        env = server_env(lib, settings)
        server = subprocess.Popen(as_postgres([pg_bin("postgres"), "-D", f"{work}/data", "-p", str(port), "-k",
                                               work, "-c", "listen_addresses=", "-c", "fsync=off",
                                               "-c", "synchronous_commit=off"]),
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            postmaster = None
            end = time.time() + 20
            while time.time() < end and postmaster is None:
                if os.path.exists(f"{work}/data/postmaster.pid"):
                    with open(f"{work}/data/postmaster.pid") as f:
                        first = f.readline().strip()
                    if first.isdigit() and os.path.exists(f"{work}/.s.PGSQL.{port}"):
                        postmaster = int(first)
                time.sleep(0.1)
            if postmaster is None:
                raise RuntimeError("postgres did not start")
            time.sleep(0.5)
            watch = Watch(postmaster)
            watch.sample()
            start_cpu = dict(watch.cpu)
            load = subprocess.Popen(as_postgres(["pgbench", "-h", work, "-p", str(port), "-U", "postgres",
                                                 "-c", "4", "-j", "2", "-T", str(seconds), "postgres"]),
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            while load.poll() is None:
                watch.sample()
                time.sleep(0.2)
            out = load.stdout.read()
            match = re.search(r"tps = ([\d.]+)", out)
            done = re.search(r"number of transactions actually processed: (\d+)", out)
            if not match or not done:
                raise RuntimeError("pgbench: " + out[-500:])
            time.sleep(0.5)  # the backends exit and are reaped: their CPU joins the postmaster's
            watch.cpu = {}
            watch.sample()
            procs = [watch.seen[postmaster]] + [v for p, v in sorted(watch.seen.items()) if p != postmaster]
            cpu = sum(watch.cpu.values()) - sum(start_cpu.get(p, 0) for p in watch.cpu)
            return float(match.group(1)), 1e6 * cpu / int(done.group(1)), procs
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def mib(kib):
    return kib / 1024.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lib", action="append", default=[], help="LABEL=PATH of a librallo")
    parser.add_argument("--modes", default="fp,auto", help="RALLO_UNWIND values; 'default' leaves it unset")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", default="nginx,postgres")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--bare", action="store_true", help="also run without librallo")
    parser.add_argument("--matrix", action="store_true",
                        help="instead of --modes: bare mimalloc, rallo off, sampled at 512 KiB and every "
                             "allocation, RALLO_UNWIND left at its default (auto)")
    parser.add_argument("--callgrind", action="store_true",
                        help="instead: nginx's instructions a gzip request under callgrind, ((600) - (100)) / 500")
    args = parser.parse_args()
    libs = [tuple(spec.split("=", 1)) for spec in args.lib] or [("rallo", f"{ROOT}/build/librallo.so")]
    configs = [(f"{label} {mode}", os.path.realpath(path),
                dict(RALLO_ENABLE="1", **({} if mode == "default" else {"RALLO_UNWIND": mode})))
               for label, path in libs for mode in args.modes.split(",")]
    if args.matrix:
        rallo = os.path.realpath(libs[0][1])
        mimalloc = sorted(glob.glob("/usr/lib/*/libmimalloc.so.2*"))[0]
        configs = [("bare mimalloc", mimalloc, {}), ("rallo off", rallo, {}),
                   ("rallo sampled 512 KiB", rallo, {"RALLO_ENABLE": "1", "RALLO_SAMPLE": "524288"}),
                   ("rallo every allocation", rallo, {"RALLO_ENABLE": "1"})]
    if args.bare:
        configs.insert(0, ("no rallo", None, {}))
    if args.callgrind:
        print("nginx, one process, callgrind: instructions a gzip request, ((600 requests) - (100)) / 500")
        for name, lib, settings in configs:
            if lib is None:
                continue
            per = (nginx_instructions(lib, settings, 600) - nginx_instructions(lib, settings, 100)) / 500
            print(f"| {name} | {per:,.0f} |", flush=True)
        return
    runners = {"nginx": run_nginx, "postgres": run_postgres}
    for server in args.servers.split(","):
        results = {name: [] for name, _, _ in configs}
        for round_ in range(args.rounds):
            order = configs if round_ % 2 == 0 else list(reversed(configs))
            for name, lib, settings in order:
                rate, cpu, procs = runners[server](lib, settings, args.seconds)
                results[name].append((rate, procs, cpu))
                print(f"# {server} round {round_ + 1} {name}: {rate:.1f}/s, {cpu:.1f} us CPU each, "
                      + ", ".join(f"{mib(h):.1f}/{mib(a):.1f}" for h, a in procs), flush=True)
        unit = "requests/s" if server == "nginx" else "tps"
        print(f"\n{server}: median of {args.rounds} interleaved rounds of {args.seconds} s")
        print(f"| configuration | {unit} | server CPU us per {'request' if server == 'nginx' else 'transaction'} | main process VmHWM / RssAnon MiB | "
              "other processes, highest VmHWM / RssAnon MiB | other processes, median RssAnon MiB |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, _, _ in configs:
            runs = results[name]
            rate = statistics.median(r for r, _, _ in runs)
            cpu = statistics.median(c for _, _, c in runs)
            main_hwm = statistics.median(p[0][0] for _, p, _ in runs)
            main_anon = statistics.median(p[0][1] for _, p, _ in runs)
            other_hwm = statistics.median(max((x[0] for x in p[1:]), default=0) for _, p, _ in runs)
            other_anon = statistics.median(max((x[1] for x in p[1:]), default=0) for _, p, _ in runs)
            other_med = statistics.median(statistics.median([x[1] for x in p[1:]] or [0]) for _, p, _ in runs)
            print(f"| {name} | {rate:.1f} | {cpu:.1f} | {mib(main_hwm):.1f} / {mib(main_anon):.1f} | "
                  f"{mib(other_hwm):.1f} / {mib(other_anon):.1f} | {mib(other_med):.1f} |")
        print(flush=True)


if __name__ == "__main__":
    main()
