// The agent's live page: network map, containers, alerts.  Everything shown
// comes from the agent's API and is set as text (textContent): container
// names, paths and commands are the containers' own, never markup.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "eunomia-api-token";
const REFRESH_MS = 2000;
const ALERTS_SHOWN = 200;
let token = sessionStorage.getItem(TOKEN_KEY);
let refreshing = null;

function el(tag, attrs = {}, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

class Unauthorized extends Error {}

async function api(path, init = {}) {
  const headers = Object.assign({}, init.headers || {});
  if (token) headers["Authorization"] = "Bearer " + token;
  const response = await fetch(path, Object.assign({}, init, { headers, cache: "no-store" }));
  if (response.status === 401) throw new Unauthorized();
  if (!response.ok) throw new Error(path + ": " + response.status);
  return response;
}

function askToken(refused) {
  document.getElementById("live").hidden = true;
  document.getElementById("token-form").hidden = false;
  document.getElementById("token-error").hidden = !refused;
  document.getElementById("node-state").textContent = "needs a token";
}

function drawMap(network) {
  const svg = document.getElementById("network-map");
  svg.replaceChildren();
  const defs = el("svg:defs");
  const marker = el("svg:marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
                                    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
  marker.append(el("svg:path", { d: "M 0 0 L 10 5 L 0 10 z" }));
  defs.append(marker);
  svg.append(defs);
  const names = [...new Set([...network.containers, ...network.edges.flatMap(e => [e.source, e.destination])])];
  const w = 640, h = 420, r = 22, cx = w / 2, cy = h / 2, ring = Math.min(w, h) / 2 - 60;
  const at = new Map(names.map((name, i) => {
    const a = names.length === 1 ? 0 : (2 * Math.PI * i) / names.length - Math.PI / 2;
    return [name, [cx + (names.length === 1 ? 0 : ring * Math.cos(a)), cy + (names.length === 1 ? 0 : ring * Math.sin(a))]];
  }));
  for (const edge of network.edges) {
    const [x1, y1] = at.get(edge.source), [x2, y2] = at.get(edge.destination);
    const len = Math.hypot(x2 - x1, y2 - y1) || 1, ux = (x2 - x1) / len, uy = (y2 - y1) / len;
    const g = el("svg:g", { class: "edge", "data-source": edge.source, "data-destination": edge.destination });
    g.append(el("svg:line", { x1: x1 + ux * r, y1: y1 + uy * r, x2: x2 - ux * r, y2: y2 - uy * r }));
    const label = el("svg:text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 6, "text-anchor": "middle" },
                     `${edge.transport}/${edge.port} ×${edge.count}`);
    g.append(el("svg:title", {}, `${edge.source} → ${edge.destination} ${edge.transport}/${edge.port}: ${edge.count}`), label);
    svg.append(g);
  }
  for (const name of names) {
    const [x, y] = at.get(name);
    const g = el("svg:g", { class: "node", "data-name": name });
    g.append(el("svg:circle", { cx: x, cy: y, r }), el("svg:text", { x, y: y + r + 15, "text-anchor": "middle" }, name));
    svg.append(g);
  }
  document.getElementById("edges-empty").hidden = network.edges.length > 0;
}

function drawContainers(containers) {
  const body = document.querySelector("#containers tbody");
  body.replaceChildren(...containers.map(c => {
    const row = el("tr", { "data-id": c.id });
    row.append(el("td", {}, c.name || c.short_id), el("td", {}, c.image || ""), el("td", {}, c.state));
    const k = c.counts;
    for (const n of [k.process_starts, k.file_opens, k.tcp_connections, k.signals_sent, k.alerts]) row.append(el("td", { class: "n" }, n));
    return row;
  }));
}

function addAlert(alert) {  // newest first
  const list = document.getElementById("alerts");
  const container = alert.container && typeof alert.container === "object"
    ? (alert.container.name || (alert.container.id || "").slice(0, 12)) : alert.container;
  const item = el("li");
  item.append(el("span", { class: "rule" }, alert.rule), document.createTextNode(" "),
              el("span", { class: "where" }, `${alert.priority} · ${container || "?"} · ${alert.time || ""}`),
              el("div", { class: "output" }, alert.output));
  list.prepend(item);
  while (list.children.length > ALERTS_SHOWN) list.lastChild.remove();
}

async function refresh() {
  try {
    const [containers, network] = await Promise.all([
      api("/api/v1/containers").then(r => r.json()), api("/api/v1/network").then(r => r.json())]);
    drawContainers(containers);
    drawMap(network);
    document.getElementById("node-state").textContent = `${containers.length} containers watched`;
  } catch (error) {
    if (error instanceof Unauthorized) { stop(); askToken(Boolean(token)); return; }
    document.getElementById("node-state").textContent = "agent unreachable";
  }
}

async function streamAlerts() {
  const state = document.getElementById("stream-state");
  for (;;) {
    try {
      const response = await api("/api/v1/stream?type=alert");
      state.textContent = "live";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
          const kind = (block.match(/^event: (.*)$/m) || [])[1];
          const data = (block.match(/^data: (.*)$/m) || [])[1];
          if (kind === "alert" && data) addAlert(JSON.parse(data));
        }
      }
    } catch (error) {
      if (error instanceof Unauthorized) return;
    }
    state.textContent = "reconnecting…";
    await new Promise(done => setTimeout(done, REFRESH_MS));
  }
}

function stop() { if (refreshing) clearInterval(refreshing); refreshing = null; }

async function start() {
  try {
    const alerts = await api("/api/v1/alerts?limit=50").then(r => r.json());
    document.getElementById("token-form").hidden = true;
    document.getElementById("live").hidden = false;
    document.getElementById("alerts").replaceChildren();
    for (const alert of alerts) addAlert(alert);  // oldest first: the newest ends on top
  } catch (error) {
    if (error instanceof Unauthorized) { askToken(Boolean(token)); return; }
  }
  await refresh();
  stop();
  refreshing = setInterval(refresh, REFRESH_MS);
  streamAlerts();
}

document.getElementById("token-form").addEventListener("submit", event => {
  event.preventDefault();
  token = document.getElementById("token").value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  start();
});
start();
