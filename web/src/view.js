// The visible box and the /clusters request of a view, computed from its
// centre, zoom and size alone: the page's first request is sent from them
// before the map (and its 1 MB library) exists.

// viewBox is the lon/lat box [w, s, e, n] of a w×h px view of MapLibre's
// 512 px tiles centred on center [lon, lat] at zoom z, clamped to the world.
export function viewBox(center, z, w, h) {
  const size = 512 * 2 ** z;
  const lat = Math.max(-85.0511, Math.min(85.0511, center[1]));
  const cx = ((center[0] + 180) / 360) * size;
  const cy = ((1 - Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360)) / Math.PI) / 2) * size;
  const lon = (x) => (x / size) * 360 - 180;
  const latOf = (y) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / size))) * 180) / Math.PI;
  const west = Math.max(-180, lon(cx - w / 2)), east = Math.min(180, lon(cx + w / 2));
  return [west, Math.max(-90, latOf(cy + h / 2)), east > west ? east : 180, Math.min(90, latOf(cy - h / 2))];
}

// clusterZoom is the /clusters zoom whose 64 px cells (of 256 px tiles) fit
// MapLibre's 512 px tiles at map zoom z.
export function clusterZoom(z) {
  return Math.max(0, Math.min(22, Math.round(z) + 1));
}

export function clustersURL(collection, bbox, z) {
  return '/collections/' + encodeURIComponent(collection) + '/clusters?bbox=' + bbox.map((v) => +v.toFixed(6)).join(',') + '&zoom=' + z;
}

// contains reports whether box a holds box b (within a hair of rounding).
export function contains(a, b) {
  const eps = 1e-6;
  return a[0] <= b[0] + eps && a[1] <= b[1] + eps && a[2] >= b[2] - eps && a[3] >= b[3] - eps;
}
