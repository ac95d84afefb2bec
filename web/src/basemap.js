// The offline base map: countries and regions from the Natural Earth data
// geoseek loads for place names, served as its own vector tiles.
const urban = '#e2dccf';
const land = ['#f2eee3', '#e9efdf', '#f3e9e1', '#e6ece6', '#f1ead6', '#ece7f0', '#e4ebe9'];

export function offlineStyle(origin) {
  const fill = ['match', ['get', 'c']];
  land.forEach((c, i) => fill.push(i, c));
  fill.push(land[0]);
  const areaFill = ['case', ['==', ['get', 'kind'], 'city'], urban, fill];
  return {
    version: 8,
    sources: {
      basemap: {
        type: 'vector',
        tiles: [origin + '/basemap/{z}/{x}/{y}.mvt'],
        minzoom: 0,
        maxzoom: 9,
        attribution: 'Natural Earth',
      },
    },
    layers: [
      { id: 'water', type: 'background', paint: { 'background-color': '#cfe2ee' } },
      // No antialiased outline pass over every polygon: it doubled the
      // base map's drawing, the borders are drawn by the lines below.
      { id: 'land', type: 'fill', source: 'basemap', 'source-layer': 'areas', paint: { 'fill-color': areaFill, 'fill-antialias': false } },
      {
        // From zoom 4 the tiles hold countries and, as lines, the regions'
        // borders: each shared border drawn once.
        id: 'regions', type: 'line', source: 'basemap', 'source-layer': 'borders', minzoom: 4,
        paint: { 'line-color': '#b9b2a3', 'line-width': ['interpolate', ['linear'], ['zoom'], 4, 0.3, 8, 1] },
      },
      {
        // Below zoom 4 the tiles hold countries (geo/basemap.go): their
        // outlines are the coasts and the borders.
        id: 'countries', type: 'line', source: 'basemap', 'source-layer': 'areas', maxzoom: 4,
        paint: { 'line-color': '#a9bfcc', 'line-width': 0.4 },
      },
    ],
  };
}
