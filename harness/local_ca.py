"""A certificate authority of a test's or benchmark's own, made by openssl: the edge's TLS without any
public CA, and a client that trusts exactly this one."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Leaf:
    cert: str  # PEM
    key: str  # PEM
    serial: str  # as Python's ssl reports it: upper-case hex


@dataclass(frozen=True)
class Pki:
    """A CA and wildcard certificates for ``*.<domain>`` it signs, all made by openssl in ``directory``."""

    directory: Path
    domain: str

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    def _openssl(self, *args: str) -> str:
        done = subprocess.run(
            ["openssl", *args], cwd=self.directory, capture_output=True, text=True, timeout=60, check=True
        )
        return done.stdout

    @classmethod
    def create(cls, directory: Path, domain: str) -> Pki:
        pki = cls(directory, domain)
        pki._openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=openclaw-tenants edge test CA", "-keyout", "ca.key", "-out", "ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        return pki

    def leaf(self, name: str) -> Leaf:
        (self.directory / f"{name}.ext").write_text(
            f"subjectAltName=DNS:*.{self.domain}\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
        )
        self._openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", f"/CN=*.{self.domain}", "-keyout", f"{name}.key", "-out", f"{name}.csr",
        )  # fmt: skip
        self._openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
        )  # fmt: skip
        serial = self._openssl("x509", "-in", f"{name}.pem", "-noout", "-serial").strip().split("=", 1)[1]
        return Leaf((self.directory / f"{name}.pem").read_text(), (self.directory / f"{name}.key").read_text(), serial)
