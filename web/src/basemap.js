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
      // The antialiased outline (in the fill's colour) smooths the coasts,
      // which have no line of their own, and closes the hairline cracks
      // where the land's pieces meet.
      { id: 'land', type: 'fill', source: 'basemap', 'source-layer': 'areas', paint: { 'fill-color': areaFill } },
      // Lines only where areas meet: coasts are the land's edge.
      {
        id: 'regions', type: 'line', source: 'basemap', 'source-layer': 'borders', minzoom: 4,
        filter: ['==', ['get', 'kind'], 'region'],
        paint: { 'line-color': '#c4bcab', 'line-width': ['interpolate', ['linear'], ['zoom'], 4, 0.3, 8, 1] },
      },
      {
        id: 'countries', type: 'line', source: 'basemap', 'source-layer': 'borders',
        filter: ['==', ['get', 'kind'], 'country'],
        paint: { 'line-color': '#857e70', 'line-width': ['interpolate', ['linear'], ['zoom'], 1, 0.7, 4, 1, 8, 1.6] },
      },
    ],
  };
}
