"""The local real stack: Apache Kafka (KRaft, one node, jars from Maven Central) and Redis.

Everything lives under one git-ignored folder (`.pulse/` by default):

    .pulse/jars/                 Kafka's jars (mvn dependency:copy-dependencies on deploy/local/pom.xml)
    .pulse/stack/kafka/          server.properties, data (log.dirs), kafka.pid, kafka.log
    .pulse/stack/redis/          appendonly data, redis.pid, redis.log
    .pulse/secure/               the same for `pulse stack up --secure` (SASL_SSL Kafka, Redis ACL
                                 user; CA, credentials and pulse.env: streams/dev/secure.py)

`up()` is idempotent and waits until the broker answers a metadata request and
Redis answers PING; `down()` stops only the processes it started (by pid, and
only if the pid still runs our command line). With `KAFKA_BOOTSTRAP` /
`REDIS_URL` set, nothing is started for that service: it is only checked.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from scoring.errors import StackError
from streams.dev import secure
from streams.kafka import kafka_auth, kafka_cluster_id
from streams.settings import Settings, redact_url

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_LOCAL = REPO_ROOT / "deploy" / "local"


@dataclass(frozen=True)
class StackPaths:
    root: Path
    name: str = "stack"  # "secure": the SASL_SSL + Redis ACL variant (streams/dev/secure.py)

    @property
    def jars(self) -> Path:
        return self.root / "jars"

    @property
    def home(self) -> Path:
        return self.root / self.name

    @property
    def kafka(self) -> Path:
        return self.home / "kafka"

    @property
    def redis(self) -> Path:
        return self.home / "redis"

    @property
    def secure(self) -> bool:
        return self.name == "secure"

    def pid_file(self, service: str) -> Path:
        return (self.kafka if service == "kafka" else self.redis) / f"{service}.pid"

    def log_file(self, service: str) -> Path:
        return (self.kafka if service == "kafka" else self.redis) / f"{service}.log"


def paths_for(settings: Settings) -> StackPaths:
    return StackPaths(settings.stack_dir.resolve(), "secure" if settings.stack_secure else "stack")


# -- processes ------------------------------------------------------------------
def running_pid(p: StackPaths, service: str) -> int | None:
    """The pid of our running `service`, or None (stale pid files are ignored)."""
    try:
        pid = int(p.pid_file(service).read_text().strip())
    except (OSError, ValueError):
        return None
    home = p.kafka if service == "kafka" else p.redis
    try:  # our processes run in their own folder (Redis rewrites its command line)
        if Path(os.readlink(f"/proc/{pid}/cwd")) != home:
            return None
    except OSError:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split(")")[-1].split()[0] == "Z":  # a zombie is not running
                return None
    except OSError:
        return None
    return pid


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the kernel's pick; free until someone binds it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _check_port_free(port: int, what: str, env_hint: str) -> None:
    if port_open(port):
        raise StackError(f"port {port} ({what}) is taken by another process: stop it, or choose another "
                         f"port with {env_hint}=<port>")


def _spawn(args: list[str], log: Path, pid_file: Path, cwd: Path) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=cwd, start_new_session=True)
    pid_file.write_text(str(proc.pid))
    return proc.pid


def stop_child(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Stop a child this process started: SIGTERM, wait up to `timeout` s, then SIGKILL and reap."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _stop(pid: int, timeout: float = 30.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


# -- Kafka ------------------------------------------------------------------------
def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError("Java not found: Kafka needs Java 17+ (Debian: apt-get install -y "
                         "openjdk-17-jre-headless)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    try:
        major = int(out.split('"')[1].split(".")[0])
    except (IndexError, ValueError):
        major = 0
    if major < 17:
        raise StackError(f"Java 17+ is needed for Kafka 4, found: {out.splitlines()[0] if out else '?'}")
    return java


def ensure_jars(p: StackPaths, maven_args: str = "") -> Path:
    """Kafka's jars in .pulse/jars, downloaded by Maven on first use."""
    marker = p.jars / ".complete"
    if marker.exists():
        return p.jars
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven not found: it downloads Kafka's jars from Maven Central "
                         "(Debian: apt-get install -y maven)")
    p.jars.mkdir(parents=True, exist_ok=True)
    log = p.root / "stack" / "mvn.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        extra = shlex.split(maven_args)  # PULSE_MAVEN_ARGS, e.g. "-s mirror-settings.xml"
        rc = subprocess.run([mvn, "-q", "-B", *extra, "-f", str(DEPLOY_LOCAL / "pom.xml"),
                             "dependency:copy-dependencies", f"-DoutputDirectory={p.jars}"],
                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
    if rc != 0 or not list(p.jars.glob("kafka_2.13-*.jar")):
        raise StackError(f"could not download Kafka's jars from Maven Central (mvn exit {rc}): check the "
                         f"network or proxy settings (~/.m2/settings.xml); details in {log}")
    marker.touch()
    return p.jars


def _render_kafka_config(s: Settings, p: StackPaths) -> Path:
    p.kafka.mkdir(parents=True, exist_ok=True)
    text = Template((DEPLOY_LOCAL / "server.properties.template").read_text()).substitute(
        kafka_port=s.kafka_port, controller_port=s.kafka_controller_port, log_dir=p.kafka / "data")
    cfg = p.kafka / "server.properties"
    cfg.write_text(text)
    return cfg


def _format_storage(java: str, p: StackPaths, cfg: Path, extra: list[str]) -> None:
    if (p.kafka / "data" / "meta.properties").exists():
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    r = subprocess.run([java, "-cp", str(p.jars / "*"), "kafka.tools.StorageTool", "format",
                        "-t", cluster_id, "-c", str(cfg), *extra], capture_output=True, text=True)
    if r.returncode != 0:
        raise StackError(f"Kafka storage format failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")


def start_kafka(s: Settings, p: StackPaths) -> int | None:
    """Start the broker unless it runs; returns the pid (None when KAFKA_BOOTSTRAP is set)."""
    if s.kafka_bootstrap:
        return None
    pid = running_pid(p, "kafka")
    if pid is not None:
        return pid
    java = _java()
    ensure_jars(p, s.maven_args)
    _check_port_free(s.kafka_port, "Kafka", "PULSE_KAFKA_PORT")
    _check_port_free(s.kafka_controller_port, "Kafka controller", "PULSE_KAFKA_CONTROLLER_PORT")
    if p.secure:
        creds = secure.credentials(p.home)
        cfg = secure.render_kafka_config(s, p.kafka, p.home / "tls", creds)
        secure.ensure_tls(p.home / "tls")
        _format_storage(java, p, cfg, secure.scram_format_args(creds))
    else:
        cfg = _render_kafka_config(s, p)
        _format_storage(java, p, cfg, [])
    args = [java, "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={DEPLOY_LOCAL / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={p.kafka}", "-cp", str(p.jars / "*"), "kafka.Kafka", str(cfg)]
    return _spawn(args, p.log_file("kafka"), p.pid_file("kafka"), p.kafka)


def wait_kafka(bootstrap: str, timeout: float = 90.0, pid_check: tuple[StackPaths, int] | None = None,
               auth: dict[str, Any] | None = None) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cid = kafka_cluster_id(bootstrap, auth=auth)
        if cid:
            return cid
        if pid_check is not None and running_pid(pid_check[0], "kafka") is None:
            raise StackError(f"the Kafka broker exited during start-up: see {pid_check[0].log_file('kafka')}")
        time.sleep(0.5)
    raise StackError(f"no Kafka broker answered at {bootstrap} within {timeout:.0f} s")


# -- Redis ------------------------------------------------------------------------
def start_redis(s: Settings, p: StackPaths) -> int | None:
    if s.redis_url:
        return None
    pid = running_pid(p, "redis")
    if pid is not None:
        return pid
    server = shutil.which("redis-server")
    if server is None:
        raise StackError("redis-server not found (Debian: apt-get install -y redis-server)")
    _check_port_free(s.redis_port, "Redis", "PULSE_REDIS_PORT")
    p.redis.mkdir(parents=True, exist_ok=True)
    if p.secure:  # the password stays in a 0600 file, not on the command line
        args = [server, str(secure.render_redis_config(s, p.redis, secure.credentials(p.home)))]
    else:
        args = [server, "--bind", "127.0.0.1", "--port", str(s.redis_port), "--dir", str(p.redis),
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
                "--protected-mode", "yes"]
    return _spawn(args, p.log_file("redis"), p.pid_file("redis"), p.redis)


def redis_ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping())
    except Exception:
        return False


def wait_redis(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if redis_ping(url):
            return
        time.sleep(0.2)
    raise StackError(f"no Redis answered PING at {redact_url(url)} within {timeout:.0f} s")


# -- the stack --------------------------------------------------------------------
@dataclass
class ServiceStatus:
    name: str
    address: str
    managed: bool  # started by `pulse stack up` (False: given by env)
    pid: int | None
    answering: bool
    detail: str = ""


def client_settings(s: Settings) -> Settings:
    """`s` as a client of the stack it describes: for the secure stack, with its CA and credentials
    (what `.pulse/secure/pulse.env` sets); the plain stack needs nothing."""
    p = paths_for(s)
    if not p.secure:
        return s
    return secure.client_settings(s, secure.ensure_tls(p.home / "tls"), secure.credentials(p.home))


def secure_env(s: Settings) -> tuple[dict[str, str], Path]:
    """The client environment of the secure stack, and the 0600 file it was written to."""
    p = paths_for(s)
    env = secure.client_env(s, secure.ensure_tls(p.home / "tls"), secure.credentials(p.home))
    return env, secure.write_env_file(p.home / "pulse.env", env)


def up(s: Settings, timeout: float = 120.0) -> list[ServiceStatus]:
    p = paths_for(s)
    kpid = start_kafka(s, p)
    rpid = start_redis(s, p)
    s = client_settings(s)
    wait_redis(s.redis, timeout=min(timeout, 30.0))
    cid = wait_kafka(s.bootstrap, timeout=timeout, pid_check=(p, kpid) if kpid else None, auth=kafka_auth(s))
    return [ServiceStatus("kafka", s.bootstrap, kpid is not None, kpid, True, f"cluster id {cid}"),
            ServiceStatus("redis", s.redis_address, rpid is not None, rpid, True, "PING ok")]


def status(s: Settings) -> list[ServiceStatus]:
    p = paths_for(s)
    s = client_settings(s)
    cid = kafka_cluster_id(s.bootstrap, auth=kafka_auth(s))
    kpid = None if s.kafka_bootstrap else running_pid(p, "kafka")
    rpid = None if s.redis_url else running_pid(p, "redis")
    return [ServiceStatus("kafka", s.bootstrap, not s.kafka_bootstrap, kpid, cid is not None,
                          f"cluster id {cid}" if cid else "not answering"),
            ServiceStatus("redis", s.redis_address, not s.redis_url, rpid, redis_ping(s.redis),
                          "PING ok" if redis_ping(s.redis) else "not answering")]


def down(s: Settings) -> list[str]:
    """Stop what `up` started (by pid); returns what was stopped."""
    p = paths_for(s)
    stopped = []
    for service in ("kafka", "redis"):
        pid = running_pid(p, service)
        if pid is not None:
            _stop(pid)
            stopped.append(f"{service} (pid {pid})")
        p.pid_file(service).unlink(missing_ok=True)
    return stopped


def kill_kafka(s: Settings) -> int:
    """SIGKILL the local broker (tests of crash recovery); returns its pid."""
    p = paths_for(s)
    pid = running_pid(p, "kafka")
    if pid is None:
        raise StackError("the local Kafka broker is not running")
    os.kill(pid, signal.SIGKILL)
    while Path(f"/proc/{pid}").exists() and not _is_zombie(pid):
        time.sleep(0.1)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
    return pid
