// The command centre's dashboard: the grid drawn from the API's GeoJSON (no tile server: it works
// offline), cells coloured by live coverage state, units that move, cameras and checkpoints with
// their status, the alert feed with acknowledge, a unit's track replay, and the maintenance view.
import L from "leaflet";

const $ = (id) => document.getElementById(id);
const STATE_COLOUR = { gap: "#ff4d4f", due: "#faad14", ok: "#2ea043", unknown: "#6e7681" };
let token = sessionStorage.getItem("pingan-token");
let map, cellLayer, unitLayer, cameraLayer, checkpointLayer, trackLayer;
const unitMarkers = new Map();
let timers = [];

async function api(path, options = {}) {
  const r = await fetch(path, { ...options, headers: { ...(options.headers || {}), Authorization: `Bearer ${token}` } });
  if (r.status === 401) { signOut("The token was refused: sign in again."); throw new Error("unauthorized"); }
  if (!r.ok) {
    let reason = r.statusText;
    try { reason = (await r.json()).reason; } catch (e) { /* not JSON */ }
    throw new Error(`${r.status}: ${reason}`);
  }
  return r;
}
const json = async (path, options) => (await api(path, options)).json();

function signOut(message) {
  sessionStorage.removeItem("pingan-token");
  token = null;
  timers.forEach(clearInterval);
  timers = [];
  if (socket) socket.close();
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
}

async function signIn(event) {
  event.preventDefault();
  token = $("token").value.trim();
  try {
    await json("/api/v1/alerts?limit=1");
  } catch (e) {
    $("signin-error").textContent = `Not signed in: ${e.message}`;
    return;
  }
  sessionStorage.setItem("pingan-token", token);
  start();
}

function every(ms, fn) { fn(); timers.push(setInterval(fn, ms)); }

async function start() {
  $("signin").hidden = true;
  $("app").hidden = false;
  if (!map) {
    map = L.map("map", { zoomControl: true, attributionControl: false, preferCanvas: true });
    cellLayer = L.geoJSON(null, { style: (f) => cellStyle(f.properties), onEachFeature: (f, layer) => layer.bindTooltip(
      () => cellTip(f.properties)) }).addTo(map);
    checkpointLayer = L.layerGroup().addTo(map);
    cameraLayer = L.layerGroup().addTo(map);
    unitLayer = L.layerGroup().addTo(map);
    trackLayer = L.layerGroup().addTo(map);
  }
  await drawCells(true);
  // positions, camera status and alerts come over the live feed as they happen; the periodic
  // reads below bring what it does not carry (ages, staffing, cell states) and cover its gaps
  follow();
  every(10000, () => drawCells(false).catch(report));
  timers.push(setInterval(() => drawUnits().catch(report), 30000));
  every(60000, () => drawCameras().catch(report));
  every(10000, () => drawCheckpoints().catch(report));
  every(60000, () => drawAlerts().catch(report));
  every(1000, () => { $("clock").textContent = new Date().toLocaleString(); });
}

// -- the live feed ---------------------------------------------------------------------------------
let socket = null;
const lastId = {};  // per stream: the id of the last message had, to resume from after a break
const soon = new Map();  // a redraw asked for by the feed, done once however many messages ask

function later(key, ms, fn) {
  if (soon.has(key)) return;
  soon.set(key, setTimeout(() => { soon.delete(key); fn().catch(report); }, ms));
}

function follow() {
  if (socket || !token) return;
  const since = Object.entries(lastId).map(([k, v]) => `&${k}=${encodeURIComponent(v)}`).join("");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/api/v1/live?access_token=${encodeURIComponent(token)}${since}`);
  socket.onmessage = (event) => {
    for (const m of JSON.parse(event.data)) {
      if (m.stream) lastId[m.stream] = m.id;
      if (m.kind === "hello") {  // following from here on: what the units were until now, read after
        document.body.dataset.live = "live";
        drawUnits().catch(report);
      }
      else if (m.kind === "position") moveUnit(m);
      else if (m.kind === "camera") later("cameras", 1000, drawCameras);
      else if (m.kind === "alert") later("alerts", 500, drawAlerts);
    }
  };
  socket.onclose = () => {  // dropped (4008: fell behind), or the server went: back with the ids had
    socket = null;
    document.body.dataset.live = "reconnecting";
    if (token) setTimeout(follow, 2000);
  };
}

function moveUnit(m) {
  let u = unitState.get(m.unit_id);
  if (u && u.ts != null && m.ts < u.ts) return;  // an older fix, come late
  u = { ...(u || { unit_id: m.unit_id }), ts: m.ts, lat: m.lat, lon: m.lon, stale: false };
  unitState.set(m.unit_id, u);
  place(u);
  later("units-seen", 250, async () => publishUnits());
}

function report(e) { console.warn(e); }

function cellStyle(p) {
  return { color: "#30363d", weight: 1, fillColor: STATE_COLOUR[p.state], fillOpacity: p.state === "ok" ? 0.25 : 0.45 };
}
function cellTip(p) {
  const since = p.since_s == null ? "no unit there in 24 h" : `a unit there ${Math.round(p.since_s / 60)} min ago`;
  return `${p.name} (${p.cell_id}) · ${p.state} · ${since}; revisit every ${Math.round(p.revisit_s / 60)} min`;
}

async function drawCells(fit) {
  const cells = await json("/api/v1/cells");
  cellLayer.clearLayers();
  cellLayer.addData(cells);
  const n = { gap: 0, due: 0, ok: 0, unknown: 0 };
  cells.features.forEach((f) => { n[f.properties.state] += 1; });
  $("counts").textContent = `cells: ${n.ok} ok · ${n.due} due · ${n.gap} gap · ${n.unknown} unknown`;
  if (fit && cells.features.length) map.fitBounds(cellLayer.getBounds(), { padding: [10, 10] });
}

const unitState = new Map();  // unit → what is known of it (the REST row, moved by the feed)

async function drawUnits() {
  const { units } = await json("/api/v1/units");
  const select = $("replay-unit");
  if (!select.options.length) units.forEach((u) => select.add(new Option(`${u.unit_id} (${u.kind})`, u.unit_id)));
  for (const u of units) {
    const known = unitState.get(u.unit_id);
    if (known && known.ts != null && (u.ts == null || known.ts > u.ts)) continue;  // the feed is ahead
    unitState.set(u.unit_id, u);
    place(u);
  }
  publishUnits();
}

function place(u) {
  if (u.lat == null) return;
  let m = unitMarkers.get(u.unit_id);
  if (!m) {
    m = L.circleMarker([u.lat, u.lon], { radius: 7, weight: 2, color: "#fff" }).addTo(unitLayer);
    m.bindTooltip(u.unit_id, { permanent: true, direction: "right", className: "unit-label" });
    unitMarkers.set(u.unit_id, m);
  }
  m.setLatLng([u.lat, u.lon]);
  m.setStyle({ fillColor: u.stale ? "#6e7681" : "#58a6ff", fillOpacity: 1 });
}

function publishUnits() {  // where each unit is drawn, for whoever reads the page (and its tests)
  document.body.dataset.units = JSON.stringify([...unitState.values()].filter((u) => u.lat != null)
    .map((u) => [u.unit_id, u.lat, u.lon]));
}

async function drawCameras() {
  const { cameras } = await json("/api/v1/cameras");
  cameraLayer.clearLayers();
  for (const c of cameras) {
    const bad = c.online === false || c.image_faults.length;
    L.circleMarker([c.lat, c.lon], { radius: 4, weight: 1, color: "#000", fillOpacity: 1,
      fillColor: bad ? "#ff4d4f" : c.online ? "#3fb950" : "#6e7681" })
      .bindTooltip(`${c.name} (${c.camera_id}) ${c.online === false ? "OFFLINE" : ""} ${c.image_faults.join(", ")}`)
      .addTo(cameraLayer);
  }
  document.body.dataset.cameras = JSON.stringify(cameras.map((c) => [c.camera_id, c.online, c.image_faults]));
  drawMaintenance(cameras);
}

async function drawCheckpoints() {
  const { checkpoints } = await json("/api/v1/checkpoints");
  checkpointLayer.clearLayers();
  for (const c of checkpoints) {
    L.circleMarker([c.lat, c.lon], { radius: 9, weight: 3, fillOpacity: 0.2,
      color: c.staffed ? "#3fb950" : "#ff4d4f" })
      .bindTooltip(`${c.name}: ${c.officers.length} of ${c.min_staff} officers${c.scheduled_now ? "" : " (not scheduled now)"}`)
      .addTo(checkpointLayer);
  }
}

async function drawAlerts() {
  const { alerts, total } = await json("/api/v1/alerts?limit=100");
  $("alert-count").textContent = `${total} active`;
  const list = $("alerts");
  list.replaceChildren(...alerts.map((a) => {
    const li = document.createElement("li");
    li.className = `${a.severity} ${a.state}`;
    li.dataset.alert = a.alert_id;
    li.dataset.type = a.type;
    li.dataset.subject = a.subject;
    const when = new Date(a.since * 1000).toLocaleTimeString();
    li.innerHTML = `<b></b> <span></span><br><small></small>`;
    li.querySelector("b").textContent = a.type.replaceAll("_", " ");
    li.querySelector("span").textContent = a.subject;
    li.querySelector("small").textContent = `${a.severity} · since ${when}` +
      (a.acknowledged_by ? ` · acknowledged by ${a.acknowledged_by}` : "");
    if (a.state === "open") {
      const b = document.createElement("button");
      b.textContent = "Acknowledge";
      b.onclick = async () => {
        b.disabled = true;
        try {
          await json(`/api/v1/alerts/${a.alert_id}/acknowledge`, { method: "POST",
            headers: { "Content-Type": "application/json" }, body: JSON.stringify({ note: "from the dashboard" }) });
          await drawAlerts();
        } catch (e) { b.disabled = false; alert(e.message); }
      };
      li.prepend(b);
    }
    return li;
  }));
}

async function replay(event) {
  event.preventDefault();
  const unit = $("replay-unit").value;
  const to = Date.now() / 1000;
  const track = await json(`/api/v1/units/${encodeURIComponent(unit)}/track?from=${to - Number($("replay-range").value)}&to=${to}`);
  trackLayer.clearLayers();
  const times = track.properties.times;
  if (!track.geometry || track.geometry.type !== "LineString") {
    $("replay-info").textContent = `${unit}: ${track.properties.fixes} fixes in that range`;
    return;
  }
  const points = track.geometry.coordinates.map(([lon, lat]) => [lat, lon]);
  L.polyline(points, { color: "#d2a8ff", weight: 3 }).addTo(trackLayer);
  const dot = L.circleMarker(points[0], { radius: 6, color: "#d2a8ff", fillOpacity: 1 }).addTo(trackLayer);
  $("replay-info").textContent = `${unit}: ${track.properties.fixes} fixes` +
    (track.properties.simplified ? ` (drawn with ${points.length})` : "");
  let k = 0;
  const step = setInterval(() => {
    k += 1;
    if (k >= points.length) { clearInterval(step); return; }
    dot.setLatLng(points[k]);
    $("replay-info").dataset.at = String(times[k]);
  }, Math.max(20, 5000 / points.length));
}

function drawMaintenance(cameras) {
  const ranked = [...cameras].sort((a, b) => (a.uptime_24h ?? 2) - (b.uptime_24h ?? 2));
  const pct = (x) => (x == null ? "—" : `${(100 * x).toFixed(1)}%`);
  $("cameras").tBodies[0].replaceChildren(...ranked.map((c) => {
    const tr = document.createElement("tr");
    const cells = [c.camera_id, c.category, c.district ?? "—", c.online === false ? "offline" : c.online ? "online" : "—",
      pct(c.uptime_24h), pct(c.uptime_7d), c.image_faults.join(", ") || "—"];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 3 || i === 6) td.className = text === "online" || text === "—" ? "good" : "bad";
      tr.append(td);
    });
    for (const kind of ["snapshot", "reference"]) {
      const td = document.createElement("td");
      if (c.image_faults.length) {
        const img = document.createElement("img");
        img.alt = `${kind} of ${c.camera_id}`;
        api(`/api/v1/cameras/${encodeURIComponent(c.camera_id)}/${kind}`)
          .then((r) => r.blob()).then((b) => { img.src = URL.createObjectURL(b); }).catch(() => { img.alt = `no ${kind}`; });
        td.append(img);
      }
      tr.append(td);
    }
    return tr;
  }));
}

document.querySelectorAll("nav button").forEach((b) => {
  b.onclick = () => {
    document.querySelectorAll("nav button").forEach((x) => x.classList.toggle("active", x === b));
    document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== b.dataset.view; });
    if (b.dataset.view === "command") map.invalidateSize();
  };
});
$("signin").onsubmit = signIn;
$("signout").onclick = () => signOut();
$("replay").onsubmit = (e) => replay(e).catch((err) => { $("replay-info").textContent = err.message; });
if (token) start().catch(() => signOut()); else signOut();
