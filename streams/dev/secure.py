"""The secure variant of the local stack (`pulse stack up --secure`, PULSE_STACK_SECURE=1).

Kafka gets one client listener, SASL_SSL with SCRAM-SHA-512, and Redis an ACL user (the default
user is switched off). Everything lives under `.pulse/secure/` (not `.pulse/stack/`), generated
on first use and kept:

    .pulse/secure/tls/ca.crt        a local CA (PEM); clients trust it (PULSE_KAFKA_CA_FILE)
    .pulse/secure/tls/broker.pem    the broker's key (PKCS#8) + certificate for IP 127.0.0.1 / localhost
    .pulse/secure/credentials.json  generated passwords (mode 0600)
    .pulse/secure/pulse.env         the PULSE_* / KAFKA_BOOTSTRAP / REDIS_URL lines clients need
                                    (`set -a; . .pulse/secure/pulse.env; set +a`), mode 0600

The SCRAM users are created when the KRaft storage is formatted (`kafka-storage format
--add-scram`): `broker` (inter-broker traffic on the same SASL_SSL listener) and `pulse` (the
clients). The controller listener stays PLAINTEXT on loopback: only the node itself talks to it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template

from pydantic import SecretStr

from scoring.errors import StackError
from streams.settings import Settings

SECURE_TEMPLATE = (Path(__file__).resolve().parents[2] / "deploy" / "local"
                   / "server-secure.properties.template")
MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class Credentials:
    kafka_user: str
    kafka_password: str
    broker_user: str
    broker_password: str
    redis_user: str
    redis_password: str

    def __repr__(self) -> str:  # never the passwords
        return f"Credentials(kafka_user={self.kafka_user!r}, redis_user={self.redis_user!r})"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def credentials(home: Path) -> Credentials:
    """The stack's passwords: read from `home/credentials.json`, generated on first use."""
    path = home / "credentials.json"
    if path.exists():
        return Credentials(**json.loads(path.read_text()))
    creds = Credentials("pulse", secrets.token_hex(16), "broker", secrets.token_hex(16),
                        "pulse", secrets.token_hex(16))
    _write_private(path, json.dumps(asdict(creds)))
    return creds


def _openssl(args: list[str], cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise StackError("openssl not found: the secure stack generates its CA with it "
                         "(Debian: apt-get install -y openssl)")
    r = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise StackError(f"openssl {args[0]} failed: {r.stderr.strip()[-300:]}")


def ensure_tls(tls: Path) -> Path:
    """A CA and a broker certificate it signed (EC P-256, 825 days), generated once; returns the CA file."""
    ca = tls / "ca.crt"
    if ca.exists() and (tls / "broker.pem").exists():
        return ca
    tls.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "825",
              "-subj", "/CN=Pulse local CA", "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"], tls)
    (tls / "broker.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                    "extendedKeyUsage=serverAuth,clientAuth\n"
                                    "keyUsage=critical,digitalSignature,keyEncipherment\n")
    _openssl(["req", *ec, "-keyout", "broker.key", "-out", "broker.csr", "-subj", "/CN=localhost"], tls)
    _openssl(["x509", "-req", "-in", "broker.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
              "-out", "broker.crt", "-days", "825", "-extfile", "broker.ext"], tls)
    # Kafka's PEM key store: the private key (PKCS#8, unencrypted, 0600) then the certificate chain
    _write_private(tls / "broker.pem", (tls / "broker.key").read_text() + (tls / "broker.crt").read_text()
                   + ca.read_text())
    for f in ("ca.key", "broker.key"):
        os.chmod(tls / f, 0o600)
    return ca


def render_kafka_config(s: Settings, kafka_home: Path, tls: Path, creds: Credentials) -> Path:
    kafka_home.mkdir(parents=True, exist_ok=True)
    text = Template(SECURE_TEMPLATE.read_text()).substitute(
        kafka_port=s.kafka_port, controller_port=s.kafka_controller_port, log_dir=kafka_home / "data",
        keystore=tls / "broker.pem", truststore=tls / "ca.crt", mechanism=MECHANISM,
        broker_user=creds.broker_user, broker_password=creds.broker_password)
    cfg = kafka_home / "server.properties"
    _write_private(cfg, text)
    return cfg


def scram_format_args(creds: Credentials) -> list[str]:
    """`kafka-storage format` arguments that create both SCRAM users in the new cluster's metadata."""
    return ["--add-scram", f"{MECHANISM}=[name={creds.broker_user},password={creds.broker_password}]",
            "--add-scram", f"{MECHANISM}=[name={creds.kafka_user},password={creds.kafka_password}]"]


def render_redis_config(s: Settings, redis_home: Path, creds: Credentials) -> Path:
    """redis.conf (0600): loopback, AOF, the default user off and one ACL user with every command."""
    conf = redis_home / "redis.conf"
    _write_private(conf, "\n".join([
        "bind 127.0.0.1", f"port {s.redis_port}", f"dir {redis_home}", "appendonly yes",
        "appendfsync everysec", 'save ""', "daemonize no", "protected-mode yes",
        "user default off",
        f"user {creds.redis_user} on >{creds.redis_password} ~* &* +@all", ""]))
    return conf


def client_settings(s: Settings, ca: Path, creds: Credentials) -> Settings:
    """`s` as a client of the secure stack: SASL_SSL + SCRAM with the `pulse` user, the Redis ACL user."""
    return s.model_copy(update={
        "kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": MECHANISM,
        "kafka_sasl_username": creds.kafka_user, "kafka_sasl_password": SecretStr(creds.kafka_password),
        "kafka_ca_file": ca, "redis_username": creds.redis_user,
        "redis_password": SecretStr(creds.redis_password)})


def client_env(s: Settings, ca: Path, creds: Credentials) -> dict[str, str]:
    """The environment a Pulse process needs to use the secure stack."""
    return {"KAFKA_BOOTSTRAP": s.bootstrap, "REDIS_URL": f"redis://127.0.0.1:{s.redis_port}/0",
            "PULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "PULSE_KAFKA_SASL_MECHANISM": MECHANISM,
            "PULSE_KAFKA_SASL_USERNAME": creds.kafka_user, "PULSE_KAFKA_SASL_PASSWORD": creds.kafka_password,
            "PULSE_KAFKA_CA_FILE": str(ca), "PULSE_REDIS_USERNAME": creds.redis_user,
            "PULSE_REDIS_PASSWORD": creds.redis_password}


def write_env_file(path: Path, env: dict[str, str]) -> Path:
    _write_private(path, "".join(f"{k}={v}\n" for k, v in env.items()))
    return path
