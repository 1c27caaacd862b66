"""What a tenant's gateway container reaches: Node's fetch and raw TCP connects, run inside it.

All probes of one call run at once, each bounded, so an unreachable (dropped) destination costs
one timeout, not one per probe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from docker.models.containers import Container

PROBE_TIMEOUT_MS = 3000

SCRIPT = """
const net = require("net");
const probes = JSON.parse(process.argv[1]);
const tcp = (host, port) => new Promise((done) => {
  const s = net.connect({ host, port, timeout: TIMEOUT_MS });
  s.on("connect", () => { s.destroy(); done("open"); });
  s.on("timeout", () => { s.destroy(); done("timeout"); });
  s.on("error", (e) => done(e.code || "error"));
});
const get = async (url) => {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    return "http " + res.status + " " + (await res.text()).slice(0, 40);
  } catch (e) {
    return "error " + ((e.cause && e.cause.code) || e.name);
  }
};
Promise.all(probes.map(async (p) => [p.name, p.url ? await get(p.url) : await tcp(p.host, p.port)]))
  .then((r) => console.log(JSON.stringify(Object.fromEntries(r))));
""".replace("TIMEOUT_MS", str(PROBE_TIMEOUT_MS))


@dataclass(frozen=True)
class Probe:
    """``url`` for a fetch, else ``host``/``port`` for a TCP connect; ``expect`` is the server's answer."""

    name: str
    host: str = ""
    port: int = 0
    url: str = ""
    expect: str = ""

    def reached(self, outcome: str) -> bool:
        if self.url:
            return outcome.startswith("http 200") and outcome.endswith(self.expect)
        return outcome == "open"


def node_output(container: Container, script: str, *args: str) -> str:
    """What ``node -e script args…`` prints in the container; its error output if it fails."""
    code, output = container.exec_run(["node", "-e", script, *args])
    text = (output if isinstance(output, bytes) else b"".join(output)).decode(errors="replace")
    if code != 0:
        raise RuntimeError(f"node failed in {container.name}: {text[-500:]}")
    return text


def run_probes(container: Container, probes: list[Probe]) -> dict[str, str]:
    """Each probe's outcome: "open", "timeout", "ECONNREFUSED", "http 200 <body>", "error <code>"…"""
    argument = json.dumps([{"name": p.name, "host": p.host, "port": p.port, "url": p.url} for p in probes])
    text = node_output(container, SCRIPT, argument)
    outcomes: dict[str, str] = json.loads(text.strip().splitlines()[-1])
    return outcomes


def reached(container: Container, probes: list[Probe]) -> set[str]:
    """The names of the probes that reached what they aimed at."""
    outcomes = run_probes(container, probes)
    return {p.name for p in probes if p.reached(outcomes[p.name])}
