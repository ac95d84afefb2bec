// The map of the OGC API HTML pages (/collections/{c}/items?f=html and one
// item): the page's own features, points, lines and polygons, drawn over
// the base map; clicking one points at its row.
import maplibregl from 'maplibre-gl';
import 'maplibre-gl/dist/maplibre-gl.css';
import './style.css';
import { getJSON } from './api.js';
import { offlineStyle } from './basemap.js';
import { addShapeLayers, boundsOf } from './shapes.js';

const box = document.getElementById('features-map');
if (box) {
  const map = new maplibregl.Map({
    container: box,
    style: box.dataset.style || offlineStyle(location.origin),
    center: [0, 20],
    zoom: 0.5,
    dragRotate: false,
    attributionControl: { compact: true },
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
  map.on('load', async () => {
    document.body.dataset.state = 'loading';
    try {
      const doc = await getJSON(box.dataset.src);
      const features = doc.type === 'Feature' ? [doc] : doc.features;
      addShapeLayers(map, 'features', { type: 'FeatureCollection', features });
      map.addLayer({ id: 'features-point', type: 'circle', source: 'features', filter: ['==', ['geometry-type'], 'Point'],
        paint: { 'circle-radius': 6, 'circle-color': '#f97316', 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 } });
      const b = boundsOf(features.filter((f) => f.geometry));
      if (b[0] <= b[2]) map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 40, maxZoom: 14, duration: 0 });
      for (const layer of ['features-point', 'features-fill', 'features-line']) {
        map.on('click', layer, (e) => {
          const row = document.getElementById('f-' + e.features[0].id);
          if (!row) return;
          document.querySelectorAll('tr.picked').forEach((r) => r.classList.remove('picked'));
          row.classList.add('picked');
          row.scrollIntoView({ block: 'nearest' });
        });
        map.on('mouseenter', layer, () => { map.getCanvas().style.cursor = 'pointer'; });
        map.on('mouseleave', layer, () => { map.getCanvas().style.cursor = ''; });
      }
      document.body.dataset.total = features.length;
    } catch (e) {
      box.replaceChildren(document.createTextNode('The map could not load the features: ' + e.message));
    } finally {
      document.body.dataset.state = 'idle';
    }
  });
}
