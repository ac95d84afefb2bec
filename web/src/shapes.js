// Lines and polygons of a GeoJSON source, drawn as such; points are drawn
// by the callers (markers on /map, circles on the feature pages).
export function addShapeLayers(map, id, data) {
  map.addSource(id, { type: 'geojson', data, promoteId: undefined });
  map.addLayer({ id: id + '-fill', type: 'fill', source: id, filter: ['==', ['geometry-type'], 'Polygon'],
    paint: { 'fill-color': '#2563eb', 'fill-opacity': 0.18 } });
  map.addLayer({ id: id + '-line', type: 'line', source: id, filter: ['!=', ['geometry-type'], 'Point'],
    paint: { 'line-color': '#1d4ed8', 'line-width': 2 } });
}

// boundsOf is the lon/lat box of features' coordinates.
export function boundsOf(features) {
  const b = [180, 90, -180, -90];
  const walk = (c) => {
    if (typeof c[0] === 'number') {
      b[0] = Math.min(b[0], c[0]); b[1] = Math.min(b[1], c[1]);
      b[2] = Math.max(b[2], c[0]); b[3] = Math.max(b[3], c[1]);
    } else c.forEach(walk);
  };
  const geom = (g) => {
    if (!g) return;
    if (g.type === 'GeometryCollection') g.geometries.forEach(geom);
    else walk(g.coordinates);
  };
  features.forEach((f) => geom(f.geometry));
  return b;
}
