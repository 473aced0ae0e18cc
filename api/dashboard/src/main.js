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
  every(10000, () => drawCells(false).catch(report));
  every(2000, () => drawUnits().catch(report));
  every(15000, () => drawCameras().catch(report));
  every(10000, () => drawCheckpoints().catch(report));
  every(3000, () => drawAlerts().catch(report));
  every(1000, () => { $("clock").textContent = new Date().toLocaleString(); });
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

async function drawUnits() {
  const { units } = await json("/api/v1/units");
  const select = $("replay-unit");
  if (!select.options.length) units.forEach((u) => select.add(new Option(`${u.unit_id} (${u.kind})`, u.unit_id)));
  for (const u of units) {
    if (u.lat == null) continue;
    let m = unitMarkers.get(u.unit_id);
    if (!m) {
      m = L.circleMarker([u.lat, u.lon], { radius: 7, weight: 2, color: "#fff" }).addTo(unitLayer);
      m.bindTooltip(u.unit_id, { permanent: true, direction: "right", className: "unit-label" });
      m.getElement && m.getElement()?.setAttribute("data-unit", u.unit_id);
      unitMarkers.set(u.unit_id, m);
    }
    m.setLatLng([u.lat, u.lon]);
    m.setStyle({ fillColor: u.stale ? "#6e7681" : "#58a6ff", fillOpacity: 1 });
    m.options.unit = u;
  }
  document.body.dataset.units = JSON.stringify(units.filter((u) => u.lat != null).map((u) => [u.unit_id, u.lat, u.lon]));
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
