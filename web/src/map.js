// The map page: browse any collection as clusters and single features, search
// it (keyword, semantic, hybrid, date range, this area), open a feature's
// details and upload photos. Browsing asks /collections/{c}/clusters once per
// settled view; a search asks /search once and groups its hits on the screen.
import maplibregl from 'maplibre-gl';
import 'maplibre-gl/dist/maplibre-gl.css';
import './style.css';
import { getJSON, setKey, apiKey, uploadPhoto } from './api.js';
import { offlineStyle } from './basemap.js';
import { readHash, writeHash } from './hash.js';
import { el, photoPopup, photoPanel, propsTable } from './detail.js';
import { addShapeLayers, boundsOf } from './shapes.js';
import { clusterZoom, clustersURL, contains } from './view.js';
import { MarkerLayer } from './markers.js';

// When this script began to run, after navigation start (the benchmark
// reads it: the rest of the first draw is the page's own work).
document.body.dataset.scriptStart = Math.round(performance.now());
const cfg = JSON.parse(document.body.dataset.config || '{}');
const $ = (id) => document.getElementById(id);
const st = readHash(location.hash, location.search);
st.c = st.c || cfg.photos || 'photos';

const map = new maplibregl.Map({
  container: 'map',
  style: cfg.styleURL || offlineStyle(location.origin),
  center: st.center || [10, 30],
  zoom: st.z ?? 1.3,
  maxZoom: 19,
  dragRotate: false,
  pitchWithRotate: false,
  attributionControl: { compact: true },
});
map.touchZoomRotate.disableRotation();
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'bottom-right');
map.addControl(new maplibregl.ScaleControl(), 'bottom-left');

// markers are the drawn markers by key (see markerKey): a redraw keeps
// those that did not change and touches only the others.
const markers = new MarkerLayer(map);
let hits = null; // the last search's features, grouped on the screen at each view
let ctl = null;
let seq = 0;
let popup = null;
let quietMove = false;

function setStatus(text, isError) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', !!isError);
}

// fail shows a request's error; a read refused for want of a key opens
// the key form, which loads the view again once a key is kept.
function fail(e) {
  setStatus(e.message, true);
  if (!e.needsKey) return;
  const panel = $('upload');
  panel.hidden = false;
  $('upload-toggle').setAttribute('aria-expanded', 'true');
  if (document.activeElement !== $('key')) $('key').focus();
}

function setBusy(busy) {
  document.body.dataset.state = busy ? 'loading' : 'idle';
}

function searching() {
  return !!(st.q || st.from || st.to);
}

// viewBBox is the visible box in lon/lat, clamped to the world.
function viewBBox() {
  const b = map.getBounds();
  const w = Math.max(-180, b.getWest()), e = Math.min(180, b.getEast());
  return [w, Math.max(-90, b.getSouth()), e > w ? e : 180, Math.min(90, b.getNorth())];
}

function markerKey(lngLat, count, id) {
  return count === 1 ? 'f' + id + '@' + lngLat[0] + ',' + lngLat[1] : count + '@' + lngLat[0] + ',' + lngLat[1];
}

// setMarkers draws the markers of list ([lngLat, count, id, title, extent]
// each): those already drawn stay, the others are removed or added.
function setMarkers(list) {
  markers.set(list.map((m) => [markerKey(m[0], m[1], m[2]), m[0], () => addMarker(...m)]));
}

function addMarker(lngLat, count, id, title, extent) {
  const single = count === 1;
  const size = single ? 16 : Math.round(28 + Math.min(28, Math.log10(count) * 10));
  const b = el('button', {
    type: 'button',
    class: 'marker ' + (single ? 'single' : 'cluster'),
    'aria-label': single ? (title || 'feature ' + id) : count + ' features: zoom in',
    title: single ? title || '' : count.toLocaleString() + ' features',
    'data-count': count,
    'data-id': single ? id : undefined,
    text: single ? '' : count >= 10000 ? Math.round(count / 1000) + 'k' : String(count),
  });
  b.style.width = b.style.height = size + 'px';
  b.addEventListener('click', (ev) => {
    ev.stopPropagation();
    if (single) openFeature(id, lngLat);
    else zoomTo(lngLat, extent);
  });
  return b;
}

function zoomTo(lngLat, extent) {
  if (extent && (extent[2] - extent[0] > 1e-7 || extent[3] - extent[1] > 1e-7)) {
    map.fitBounds([[extent[0], extent[1]], [extent[2], extent[3]]], { padding: 80, maxZoom: 18, duration: 400 });
  } else {
    map.easeTo({ center: lngLat, zoom: Math.min(19, map.getZoom() + 3), duration: 400 });
  }
}

function drawClusters(fc) {
  let total = 0;
  const list = [];
  for (const f of fc.features) {
    const p = f.properties;
    total += p.count;
    list.push([f.geometry.coordinates, p.count, p.representative_id, p.title, p.extent]);
  }
  setMarkers(list);
  document.body.dataset.total = total;
  // When the first clusters were drawn, after navigation start (the
  // benchmark reads it).
  if (!document.body.dataset.firstDraw) document.body.dataset.firstDraw = Math.round(performance.now());
  setStatus(total === 0 ? 'Nothing here' : total.toLocaleString() + (total === 1 ? ' feature' : ' features') + ' in view');
  return total;
}

// representative point of a feature: a point's coordinates, else its box centre.
function anchor(f) {
  if (f.geometry.type === 'Point') return f.geometry.coordinates;
  const b = boundsOf([f]);
  return [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];
}

// drawHits groups the search hits in 56 px screen cells, so a search draws
// without another request at every zoom.
function drawHits() {
  const cells = new Map();
  const cell = 56;
  for (const f of hits.features) {
    if (!f.geometry) continue;
    const a = anchor(f);
    const pt = map.project(a);
    const key = Math.floor(pt.x / cell) + ',' + Math.floor(pt.y / cell);
    let c = cells.get(key);
    if (!c) cells.set(key, (c = { n: 0, x: 0, y: 0, f, ext: [180, 90, -180, -90] }));
    c.n++;
    c.x += a[0];
    c.y += a[1];
    c.ext = [Math.min(c.ext[0], a[0]), Math.min(c.ext[1], a[1]), Math.max(c.ext[2], a[0]), Math.max(c.ext[3], a[1])];
  }
  setMarkers([...cells.values()].map((c) => [[c.x / c.n, c.y / c.n], c.n, c.f.id, c.f.properties && c.f.properties.title, c.ext]));
}

// pendingShapes holds the shapes that arrived before the style loaded.
let pendingShapes = [];

function setShapes(features) {
  const shapes = features.filter((f) => f.geometry && f.geometry.type !== 'Point');
  const src = pendingShapes === null && map.getSource('shapes');
  if (src) src.setData({ type: 'FeatureCollection', features: shapes });
  else pendingShapes = shapes;
}

function searchURL() {
  const p = new URLSearchParams({ collection: st.c, f: 'geojson', limit: '500' });
  if (st.q) {
    p.set('q', st.q);
    p.set('mode', st.mode);
  }
  if (st.from || st.to) {
    const to = st.to ? new Date(Date.parse(st.to + 'T00:00:00Z') + 86400000).toISOString() : '';
    p.set('period_overlaps', '[' + (st.from ? st.from + 'T00:00:00Z' : '') + ',' + to + ')');
  }
  if (st.area) p.set('bbox', st.area.join(','));
  return '/search?' + p.toString();
}

// load asks for url; answer, when given, is the same request already sent.
async function load(url, answer) {
  if (ctl) ctl.abort();
  ctl = new AbortController();
  const mine = ++seq;
  setBusy(true);
  try {
    const fc = (answer && (await answer)) || (await getJSON(url, ctl.signal));
    return mine === seq ? fc : null;
  } catch (e) {
    if (e.name !== 'AbortError' && mine === seq) fail(e);
    return null;
  } finally {
    if (mine === seq) setBusy(false);
  }
}

// browse draws the clusters of the view; when the view holds single
// lines or polygons, it also draws their shapes.
async function browse() {
  const bbox = viewBBox();
  const zoom = clusterZoom(map.getZoom());
  // The page's first request (early.js) serves when it covers the view;
  // what it holds beyond the view is left out.
  const first = window.geoseekFirst;
  window.geoseekFirst = undefined;
  const early = first && first.c === st.c && first.zoom === zoom && contains(first.bbox, bbox) && first.answer;
  let fc = await load(clustersURL(st.c, bbox, zoom), early);
  if (!fc) return;
  if (early) fc = { ...fc, features: fc.features.filter((f) => contains(bbox, [...f.geometry.coordinates, ...f.geometry.coordinates])) };
  drawClusters(fc);
  const singles = fc.features.every((f) => f.properties.count === 1);
  const shaped = fc.features.some((f) => { const e = f.properties.extent; return e[0] !== e[2] || e[1] !== e[3]; });
  if (singles && shaped && fc.features.length <= 500) {
    const items = await load('/collections/' + encodeURIComponent(st.c) + '/items?bbox=' + bbox.join(',') + '&limit=500');
    if (items) setShapes(items.features);
  } else {
    setShapes([]);
  }
}

async function search(fit) {
  const fc = await load(searchURL());
  if (!fc) return;
  hits = fc;
  setShapes(fc.features);
  const n = fc.features.length;
  document.body.dataset.total = n;
  setStatus(n === 0 ? 'No matches' : n.toLocaleString() + (n === 1 ? ' match' : ' matches') + (fc.next_cursor ? ' (the first ' + n + ')' : ''));
  $('area').hidden = true;
  if (fit && n > 0 && !st.area) {
    const b = boundsOf(fc.features);
    quietMove = true; // the fit is not the user's move: no "Search this area"
    map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 80, maxZoom: 15, duration: 0 });
    quietMove = false;
    writeHash(st, map);
  }
  drawHits();
}

function refresh(fit) {
  writeHash(st, map);
  if (searching()) return search(fit);
  hits = null;
  $('area').hidden = true;
  return browse();
}

async function openFeature(id, lngLat) {
  if (popup) popup.remove();
  const photo = st.c === (cfg.photos || 'photos');
  try {
    let content, panel;
    if (photo) {
      const p = await getJSON('/photos/' + id);
      panel = () => photoPanel(p);
      content = photoPopup(p, () => showPanel(panel()));
    } else {
      const f = await getJSON('/collections/' + encodeURIComponent(st.c) + '/items/' + id);
      const props = f.properties || {};
      const title = props.title || props.name || st.c + ' ' + id;
      panel = () => [el('h2', { text: title }), propsTable(props),
        el('p', {}, el('a', { href: '/collections/' + encodeURIComponent(st.c) + '/items/' + id + '?f=html', text: 'As a feature' }))];
      content = el('div', { class: 'card' }, el('strong', { text: title }),
        el('span', { text: f.geometry ? f.geometry.type : 'no geometry' }),
        el('button', { type: 'button', class: 'link', onclick: () => showPanel(panel()), text: 'Details' }));
    }
    // The card opens above its feature, which moves to the lower part of
    // the map so the card fits.
    popup = new maplibregl.Popup({ maxWidth: '280px', anchor: 'bottom', offset: 12, focusAfterOpen: true })
      .setLngLat(lngLat).setDOMContent(content).addTo(map);
    map.easeTo({ center: lngLat, offset: [0, Math.round(map.getContainer().clientHeight * 0.3)], duration: 300 });
  } catch (e) {
    fail(e);
  }
}

function showPanel(nodes) {
  const p = $('panel');
  p.replaceChildren(el('button', { type: 'button', class: 'close', 'aria-label': 'Close details', onclick: () => { p.hidden = true; }, text: '×' }), ...nodes);
  p.hidden = false;
  p.querySelector('.close').focus();
}

async function fillCollections() {
  const sel = $('collection');
  try {
    const list = await getJSON('/collections');
    const ids = list.collections.map((c) => c.id);
    if (!ids.includes(st.c)) ids.unshift(st.c);
    sel.replaceChildren(...ids.map((id) => el('option', { value: id, text: id })));
  } catch (e) {
    sel.replaceChildren(el('option', { value: st.c, text: st.c }));
    fail(e);
  }
  sel.value = st.c;
}

function formToState() {
  st.c = $('collection').value || st.c;
  st.q = $('q').value.trim();
  st.mode = $('mode').value;
  st.from = $('from').value;
  st.to = $('to').value;
  st.area = undefined;
  $('clear').hidden = !searching();
}

function stateToForm() {
  $('q').value = st.q;
  $('mode').value = st.mode;
  $('from').value = st.from;
  $('to').value = st.to;
  $('clear').hidden = !searching();
}

function wireForm() {
  $('search').addEventListener('submit', (e) => {
    e.preventDefault();
    formToState();
    refresh(true);
  });
  $('collection').addEventListener('change', () => {
    formToState();
    refresh(true);
  });
  $('clear').addEventListener('click', () => {
    st.q = st.from = st.to = '';
    st.area = undefined;
    stateToForm();
    refresh(false);
  });
  $('area').addEventListener('click', () => {
    st.area = viewBBox();
    refresh(false);
  });
  addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      if (popup) popup.remove();
      $('panel').hidden = true;
    }
  });
  // A pasted or edited link moves the map and reruns the query.
  addEventListener('hashchange', () => {
    const n = readHash(location.hash);
    Object.assign(st, { c: n.c || st.c, q: n.q, mode: n.mode, from: n.from, to: n.to, area: n.area });
    stateToForm();
    $('collection').value = st.c;
    // One request for the new view: the move's own redraw is skipped.
    if (n.center) {
      quietMove = true;
      map.jumpTo({ center: n.center, zoom: n.z ?? map.getZoom() });
      quietMove = false;
    }
    refresh(false);
  });
}

function wireUpload() {
  const panel = $('upload');
  const toggle = $('upload-toggle');
  toggle.addEventListener('click', () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute('aria-expanded', String(!panel.hidden));
    if (!panel.hidden) (apiKey() ? $('files') : $('key')).focus();
  });
  $('key').value = apiKey() ? '••••••••' : '';
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const v = $('key').value.trim();
    const changed = v && !v.startsWith('••');
    if (changed) setKey(v);
    $('key').value = apiKey() ? '••••••••' : '';
    setStatus(apiKey() ? 'API key kept for this tab' : 'API key cleared');
    // Reads may have needed it: the collections and the view again.
    if (changed) fillCollections().then(() => refresh(false));
  });
  $('files').addEventListener('change', (e) => uploadAll([...e.target.files]).then(() => { e.target.value = ''; }));
  const drop = $('drop');
  for (const t of [document.body]) {
    t.addEventListener('dragover', (e) => {
      if (![...e.dataTransfer.types].includes('Files')) return;
      e.preventDefault();
      panel.hidden = false;
      drop.classList.add('over');
    });
    t.addEventListener('dragleave', () => drop.classList.remove('over'));
    t.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      uploadAll([...e.dataTransfer.files].filter((f) => f.type.startsWith('image/') || /\.(jpe?g|heic|heif|png|tiff?)$/i.test(f.name)));
    });
  }
}

// uploadAll sends the files two at a time, each with its progress bar, and
// redraws the map once they are stored.
async function uploadAll(files) {
  if (!files.length) return;
  if (!apiKey()) {
    setStatus('Enter an API key with write access first', true);
    $('upload').hidden = false;
    $('key').focus();
    return;
  }
  const list = $('uploads');
  const jobs = files.map((f) => {
    const bar = el('progress', { max: 1, value: 0, 'aria-label': 'upload of ' + f.name });
    const note = el('span', { class: 'note', text: 'waiting' });
    list.prepend(el('li', {}, el('span', { class: 'name', text: f.name }), bar, note));
    return { f, bar, note };
  });
  let ok = 0;
  const next = async () => {
    for (let j = jobs.shift(); j; j = jobs.shift()) {
      j.note.textContent = 'sending';
      try {
        const r = await uploadPhoto(j.f, (x) => { j.bar.value = x; });
        j.bar.value = 1;
        const p = r.photo || {};
        j.note.textContent = (r.status === 200 ? 'already stored' : 'stored') + (p.lat == null ? ', no position' : '');
        j.note.className = 'note ok';
        ok++;
      } catch (e) {
        j.note.textContent = e.message;
        j.note.className = 'note error';
      }
    }
  };
  await Promise.all([next(), next()]);
  setStatus(ok + ' of ' + files.length + ' uploaded');
  if (ok > 0 && st.c === (cfg.photos || 'photos')) await refresh(false);
}

// The first clusters are asked for at once, while the base map's style and
// tiles load and the collections list arrives: the page draws its data as
// soon as it can.
async function start() {
  stateToForm();
  wireForm();
  wireUpload();
  const listed = fillCollections();
  if (!st.center && !searching()) {
    try {
      const col = await getJSON('/collections/' + encodeURIComponent(st.c));
      const b = col.extent && col.extent.spatial && col.extent.spatial.bbox[0];
      if (b) map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 60, maxZoom: 12, duration: 0 });
    } catch {
      // the world view stays
    }
  }
  await refresh(!st.center);
  await listed;
  map.on('moveend', () => {
    if (quietMove) return;
    if (hits) {
      writeHash(st, map);
      drawHits();
      $('area').hidden = false;
    } else {
      refresh(false);
    }
  });
}

map.on('load', () => {
  addShapeLayers(map, 'shapes', { type: 'FeatureCollection', features: pendingShapes });
  pendingShapes = null;
  map.on('click', 'shapes-fill', (e) => openFeature(e.features[0].id, e.lngLat));
  map.on('click', 'shapes-line', (e) => openFeature(e.features[0].id, e.lngLat));
});
start();
// body[data-map-idle] says the base map has drawn every tile of the view.
// body[data-idles] counts the times the base map finished drawing.
map.on('idle', () => {
  document.body.dataset.mapIdle = '1';
  document.body.dataset.idles = String(Number(document.body.dataset.idles || 0) + 1);
});
map.on('movestart', () => { delete document.body.dataset.mapIdle; });
map.on('error', (e) => setStatus('Map: ' + ((e.error && e.error.message) || 'error'), true));
