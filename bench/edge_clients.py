"""The edge benchmark's clients: Node scripts run in one container of the gateway image, so every path
(straight to a gateway, through the plain edge, through the TLS edge) is measured by the same client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from docker import DockerClient
from docker.models.containers import Container

DEADLINE_MS = 120_000  # no script outlives this, whatever the far end does
STEP_TIMEOUT_MS = 10_000

# argv[1]: {"ip", "port", "host", "tls", "headers", "ws_url", "connect", "counts": {"keepalive", "new", "ws"}}.
# Prints {"keepalive": [ms...], "new": [ms...], "ws": [ms...]}: GET /healthz on one kept-alive connection,
# GET /healthz on a new connection each (a full TLS handshake with tls), and `health` round trips on one
# authenticated WebSocket. The first of each is a warm-up and not reported.
LATENCY = """
const http = require("http"), https = require("https");
setTimeout(() => { console.error("deadline"); process.exit(2); }, DEADLINE_MS).unref();
const spec = JSON.parse(process.argv[1]);
const mod = spec.tls ? https : http;
const now = () => process.hrtime.bigint();
const ms = (t) => Number(now() - t) / 1e6;
const get = (agent) => new Promise((done, fail) => {
  const t = now();
  const req = mod.get({ host: spec.ip, port: spec.port, path: "/healthz", headers: { Host: spec.host, ...spec.headers },
                        servername: spec.tls ? spec.host : undefined, agent, timeout: STEP_TIMEOUT_MS }, (res) => {
    res.resume();
    res.on("end", () => res.statusCode === 200 ? done(ms(t)) : fail(new Error("HTTP " + res.statusCode)));
  });
  req.on("timeout", () => req.destroy(new Error("timeout")));
  req.on("error", fail);
});
const series = async (count, agent) => {
  const times = [];
  for (let i = 0; i <= count; i++) times.push(await get(agent));
  return times.slice(1);
};
const ws = async (count) => {
  const socket = new WebSocket(spec.ws_url, { headers: spec.headers });
  const frames = [];
  let waiting = null;
  socket.onmessage = (e) => {
    const frame = JSON.parse(e.data);
    if (waiting) { const w = waiting; waiting = null; w(frame); } else frames.push(frame);
  };
  const next = () => frames.length ? Promise.resolve(frames.shift()) : new Promise((ok, fail) => {
    waiting = ok;
    setTimeout(() => fail(new Error("no frame")), STEP_TIMEOUT_MS).unref();
  });
  await new Promise((ok, fail) => { socket.onopen = ok; socket.onerror = () => fail(new Error("ws error")); });
  const challenge = await next();
  if (challenge.event !== "connect.challenge") throw new Error("first frame " + JSON.stringify(challenge));
  let id = 0;
  const call = async (method, params) => {
    const rid = String(++id);
    socket.send(JSON.stringify({ type: "req", id: rid, method, params }));
    for (let i = 0; i < 1000; i++) {
      const frame = await next();
      if (frame.type === "res" && frame.id === rid) return frame;
    }
    throw new Error("no response to " + method);
  };
  const hello = await call("connect", spec.connect);
  if (!hello.ok) throw new Error("connect refused " + JSON.stringify(hello.error));
  const times = [];
  for (let i = 0; i <= count; i++) {
    const t = now();
    const res = await call("health", {});
    if (!res.ok) throw new Error("health failed " + JSON.stringify(res.error));
    times.push(ms(t));
  }
  socket.close();
  return times.slice(1);
};
(async () => {
  const keepalive = await series(spec.counts.keepalive, new mod.Agent({ keepAlive: true, maxSockets: 1 }));
  const fresh = await series(spec.counts.new, false);
  console.log(JSON.stringify({ keepalive, new: fresh, ws: await ws(spec.counts.ws) }));
  process.exit(0);
})().catch((e) => { console.error(String(e)); process.exit(1); });
"""

# argv[1]: {"ip", "port", "host", "tls", "bound", "batch", "go"}. Opens connections in batches, each doing one
# kept-alive GET /healthz and then staying idle; after each batch prints {"batch", "held", "refused", "closed",
# "statuses"} and waits for the file "<go><batch>" before the next. Stops at the bound or at the first batch
# with a refusal; after the last batch waits for "<go>final", prints the closed count and closes everything.
IDLE = """
const net = require("net"), tls = require("tls"), fs = require("fs");
setTimeout(() => { console.error("deadline"); process.exit(2); }, DEADLINE_MS).unref();
const spec = JSON.parse(process.argv[1]);
const held = [];
let closed = 0, refused = 0;
const statuses = {};
const open = () => new Promise((done) => {
  const options = { host: spec.ip, port: spec.port, servername: spec.host };
  const socket = spec.tls ? tls.connect(options) : net.connect(options);
  let settled = false, seen = "";
  const finish = (ok) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    if (ok) held.push(socket); else { refused++; socket.destroy(); }
    done();
  };
  const timer = setTimeout(() => finish(false), STEP_TIMEOUT_MS);
  socket.on(spec.tls ? "secureConnect" : "connect", () =>
    socket.write("GET /healthz HTTP/1.1\\r\\nHost: " + spec.host + "\\r\\n\\r\\n"));
  socket.on("data", (chunk) => {
    seen += chunk.toString();
    const status = seen.slice(9, 12);
    if (seen.includes("\\r\\n\\r\\n") && !settled) { statuses[status] = (statuses[status] || 0) + 1; finish(true); }
  });
  socket.on("error", () => finish(false));
  socket.on("close", () => { if (settled && held.includes(socket)) closed++; finish(false); });
});
const wait = (name) => new Promise((done, fail) => {
  const start = Date.now();
  const poll = () => fs.existsSync(spec.go + name) ? done() :
    Date.now() - start > STEP_TIMEOUT_MS * 3 ? fail(new Error("no go for " + name)) : setTimeout(poll, 10);
  poll();
});
(async () => {
  for (let batch = 1; held.length < spec.bound && refused === 0; batch++) {
    const jobs = [];
    for (let i = 0; i < spec.batch; i++) jobs.push(open());
    await Promise.all(jobs);
    console.log(JSON.stringify({ batch, held: held.length - closed, refused, closed, statuses }));
    await wait(String(batch));
  }
  await wait("final");
  console.log(JSON.stringify({ final: true, held: held.length - closed, closed }));
  for (const socket of held) socket.destroy();
  process.exit(0);
})().catch((e) => { console.error(String(e)); process.exit(1); });
"""


def _script(text: str) -> str:
    return text.replace("DEADLINE_MS", str(DEADLINE_MS)).replace("STEP_TIMEOUT_MS", str(STEP_TIMEOUT_MS))


def exec_text(container: Container, command: list[str]) -> tuple[int, str]:
    """Run ``command`` in ``container``: its exit code and its whole output."""
    code, output = container.exec_run(command)
    return int(code or 0), (output if isinstance(output, bytes) else b"".join(output)).decode(errors="replace")


def latency(client: Container, spec: Mapping[str, Any]) -> dict[str, list[float]]:
    """One round of the three series from ``client`` along the path ``spec`` names."""
    code, text = exec_text(client, ["node", "-e", _script(LATENCY), json.dumps(spec)])
    if code != 0:
        raise RuntimeError(f"latency client failed: {text[-500:]}")
    result: dict[str, list[float]] = json.loads(text.strip().splitlines()[-1])
    return result


def idle(
    engine: DockerClient, client: Container, spec: Mapping[str, Any], between: Callable[[dict[str, Any]], None]
) -> list[dict[str, Any]]:
    """The idle-connection ramp; ``between`` runs after each batch's report (and after the final one) while
    the client waits, and the client goes on once it returns. Returns every report."""
    api = engine.api
    exec_id = api.exec_create(client.id, ["node", "-e", _script(IDLE), json.dumps(spec)])["Id"]
    reports: list[dict[str, Any]] = []
    buffered, other = "", []
    for chunk in _chunks(api.exec_start(exec_id, stream=True)):
        buffered += chunk
        while "\n" in buffered:
            line, buffered = buffered.split("\n", 1)
            if not line.startswith("{"):
                other.append(line)
                continue
            report: dict[str, Any] = json.loads(line)
            reports.append(report)
            between(report)
            name = "final" if report.get("final") or last(report, spec) else str(report["batch"])
            if not report.get("final"):
                client.exec_run(["touch", f"{spec['go']}{report['batch']}"])
                if name == "final":
                    client.exec_run(["touch", f"{spec['go']}final"])
    code = api.exec_inspect(exec_id)["ExitCode"]
    if code != 0:
        raise RuntimeError(f"idle client failed ({code}): {' '.join([*other, buffered])[-500:]}")
    return reports


def last(report: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    return bool(report["refused"]) or int(report["held"]) + int(report["closed"]) >= int(spec["bound"])


def _chunks(stream: Iterator[bytes]) -> Iterator[str]:
    for chunk in stream:
        yield chunk.decode(errors="replace")
