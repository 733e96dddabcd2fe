#!/usr/bin/env python3
"""Plays systemd for flexminer.service inside an installed root (a chroot), where systemd cannot boot.

Reads the unit's ExecStart= and WatchdogSec= from the installed unit file, creates the directories its
StateDirectory=/RuntimeDirectory=/CacheDirectory= name (owner flexminer), and runs ExecStart as the
unit's user in the chroot with $NOTIFY_SOCKET (an abstract-namespace datagram socket owned by this
harness) and $WATCHDOG_USEC. Like systemd it waits for READY=1, reads STATUS=, expects WATCHDOG=1 within
WatchdogSec= and otherwise kills and restarts the service (SIGABRT, then SIGKILL), sends SIGHUP for
reload and SIGTERM for stop.

Then checks what issue 24 promises: active via READY=1; a curtail through /run/flexminer/signal.sock
sent by an operator in the flexminer group (not root) halts it; a restart comes back halted; a reload
with a changed policy applies it and keeps the curtailment; a bad policy is refused and the old one stays;
a SIGSTOPped process is restarted by the watchdog, still halted.

Usage: service_harness.py ROOT   (exit status 0 when every check passed)
"""
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time

ROOT = sys.argv[1]
UNIT = os.path.join(ROOT, "lib/systemd/system/flexminer.service")
SOCK = "/run/flexminer/signal.sock"
CONFIG = "/etc/flexminer/config.json"
checks = {"passed": 0, "failed": 0}


def check(ok, what):
    checks["passed" if ok else "failed"] += 1
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    return ok


def unit_value(key):
    with open(UNIT) as f:
        for line in f:
            if line.startswith(key + "="):
                return line.split("=", 1)[1].strip()
    raise SystemExit(f"{UNIT}: no {key}=")


def seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|min)?", text)
    if not m:
        raise SystemExit(f"WatchdogSec={text}: not understood")
    n = int(m.group(1))
    return {"ms": n / 1000, "min": n * 60}.get(m.group(2), n)


def ids(name):
    """uid:gid and the supplementary gids of `name` in the root's own /etc/passwd and /etc/group (numbers:
    chroot would look names up on the host)."""
    with open(os.path.join(ROOT, "etc/passwd")) as f:
        uid, gid = next(line.split(":")[2:4] for line in f if line.split(":")[0] == name)
    with open(os.path.join(ROOT, "etc/group")) as f:
        groups = [line.split(":")[2] for line in f if name in line.strip().split(":")[3].split(",")]
    return f"--userspec={uid}:{gid}", "--groups=" + ",".join([gid] + groups)


def in_root(*args, user="root", check_rc=True):
    cmd = ["chroot", *ids(user), ROOT] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check_rc and r.returncode != 0:
        print(f"{' '.join(args)}: exit {r.returncode}\n{r.stdout}{r.stderr}", flush=True)
    return r


class Service:
    """One flexminer.service, started and watched the way systemd would."""

    def __init__(self):
        self.exec_start = unit_value("ExecStart")
        self.watchdog = seconds(unit_value("WatchdogSec"))
        self.user = unit_value("User")
        self.group = unit_value("Group")
        self.name = f"@flexminer-harness-{os.getpid()}"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind("\0" + self.name[1:])
        self.notify.settimeout(0.1)
        self.proc = None
        self.status = []
        self.ready = False
        self.stopping = False
        self.last_pet = None
        self.pets = 0
        self.watchdog_restarts = 0
        for d, mode in (("var/lib/flexminer", "0750"), ("run/flexminer", "0750"), ("var/cache/flexminer", "0750")):
            path = os.path.join(ROOT, d)
            os.makedirs(path, exist_ok=True)
            in_root("chown", f"{self.user}:{self.group}", "/" + d)  # names: chown runs inside the root
            in_root("chmod", mode, "/" + d)

    def start(self):
        self.ready = self.stopping = False
        self.last_pet = None
        env = (
            f"NOTIFY_SOCKET={self.name} WATCHDOG_USEC={int(self.watchdog * 1e6)} "
            "XDG_CACHE_HOME=/var/cache/flexminer HOME=/var/lib/flexminer PATH=/usr/sbin:/usr/bin:/sbin:/bin"
        )
        script = f"cd /var/lib/flexminer && umask 0027 && exec env -i {env} {self.exec_start}"
        self.proc = subprocess.Popen(
            ["chroot", *ids(self.user), ROOT, "/bin/sh", "-c", script],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(ROOT, "tmp/flexminer-service.log"), "a"))
        return self.wait(lambda: self.ready, 120, "READY=1")

    def pump(self, until):
        """Reads notifications until `until` (monotonic); acts as the watchdog."""
        while time.monotonic() < until:
            try:
                data = self.notify.recv(4096).decode()
            except socket.timeout:
                data = None
            if data:
                for line in data.split("\n"):
                    key, _, value = line.partition("=")
                    if key == "READY" and value == "1":
                        self.ready = True
                        self.last_pet = time.monotonic()
                    elif key == "STATUS":
                        self.status.append(value)
                    elif key == "STOPPING":
                        self.stopping = True
                    elif key == "WATCHDOG" and value == "1":
                        self.pets += 1
                        self.last_pet = time.monotonic()
            if self.ready and self.last_pet and time.monotonic() - self.last_pet > self.watchdog:
                print(f"watchdog: no WATCHDOG=1 for {self.watchdog} s: killing (SIGABRT) and restarting", flush=True)
                self.watchdog_restarts += 1
                self.kill(signal.SIGABRT)
                self.start()

    def wait(self, condition, timeout, what):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return True
            if self.proc and self.proc.poll() is not None:
                print(f"service exited ({self.proc.returncode}) while waiting for {what}", flush=True)
                return False
            self.pump(time.monotonic() + 0.2)
        print(f"timed out after {timeout} s waiting for {what}", flush=True)
        return False

    def kill(self, sig):
        # `chroot` execs the shell, which execs flexminer: one pid all along.
        os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        os.kill(self.proc.pid, signal.SIGTERM)
        end = time.monotonic() + 30
        while self.proc.poll() is None and time.monotonic() < end:
            self.pump(time.monotonic() + 0.2)
        if self.proc.poll() is None:
            self.kill(signal.SIGKILL)
        return self.proc.returncode


def signal_as_operator(line):
    r = in_root("/usr/bin/flexminer", "signal", "unix:" + SOCK, line, user="gridops", check_rc=False)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        print(f"no reply: {r.stdout}{r.stderr}", flush=True)
        return {}


def main():
    # An operator: not root, in the flexminer group only through membership.
    in_root("/usr/sbin/useradd", "--create-home", "--groups", "flexminer", "gridops", check_rc=False)
    s = Service()
    check(s.start(), "the service becomes active through READY=1")
    check(s.status and s.status[0].startswith("mining"), f"STATUS= carries the state line: {s.status[:1]}")
    st = os.stat(os.path.join(ROOT, SOCK.lstrip("/")))
    check(oct(st.st_mode & 0o777) == "0o660", f"the signal socket is mode 0660 ({oct(st.st_mode & 0o777)})")
    reply = signal_as_operator('{"type":"curtail","level":1,"id":"grid","reason":"package-test"}')
    check(reply.get("halted") is True, "a curtail from an operator in the flexminer group halts it")
    check(s.wait(lambda: any(x.startswith("curtailed") for x in s.status), 5, "STATUS=curtailed"),
          "STATUS= says curtailed")
    s.pump(time.monotonic() + s.watchdog)
    check(s.pets >= 1, f"the control path pets the watchdog ({s.pets} WATCHDOG=1 in {s.watchdog} s)")

    check(s.stop() == 0 and s.stopping, "SIGTERM: STOPPING=1 and a clean exit")
    check(s.start(), "restarted: active again")
    check(signal_as_operator('{"type":"status"}').get("halted") is True, "a restart while curtailed comes up halted")

    with open(os.path.join(ROOT, CONFIG.lstrip("/"))) as f:
        config = json.load(f)
    config.setdefault("policy", {})["breakeven_usd_per_mwh"] = 77
    with open(os.path.join(ROOT, CONFIG.lstrip("/")), "w") as f:
        json.dump(config, f)
    os.kill(s.proc.pid, signal.SIGHUP)
    s.wait(lambda: signal_as_operator('{"type":"status"}').get("breakeven_usd_per_mwh") == 77, 10, "the reload")
    reply = signal_as_operator('{"type":"status"}')
    check(reply.get("breakeven_usd_per_mwh") == 77 and reply.get("halted") is True,
          "reload (SIGHUP) applies a changed policy and keeps the curtailment")
    config["policy"]["breakeven_usd_per_mwh"] = "not a number"
    with open(os.path.join(ROOT, CONFIG.lstrip("/")), "w") as f:
        json.dump(config, f)
    os.kill(s.proc.pid, signal.SIGHUP)
    s.pump(time.monotonic() + 2)
    reply = signal_as_operator('{"type":"status"}')
    check(reply.get("breakeven_usd_per_mwh") == 77 and reply.get("halted") is True and s.proc.poll() is None,
          "a bad policy is refused on reload: the old one stays, still running and halted")
    config["policy"]["breakeven_usd_per_mwh"] = 77
    with open(os.path.join(ROOT, CONFIG.lstrip("/")), "w") as f:
        json.dump(config, f)

    first = s.proc.pid
    os.kill(first, signal.SIGSTOP)
    s.wait(lambda: s.watchdog_restarts > 0 and s.ready, 3 * s.watchdog + 120, "the watchdog's restart")
    check(s.watchdog_restarts == 1 and s.proc.pid != first and s.ready,
          "a SIGSTOPped process misses the watchdog and is restarted")
    check(signal_as_operator('{"type":"status"}').get("halted") is True, "after the watchdog's restart: still halted")
    signal_as_operator('{"type":"release","id":"grid"}')
    check(s.stop() == 0, "stopped cleanly")
    print(f"{checks['passed']} passed, {checks['failed']} failed", flush=True)
    return 0 if checks["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
