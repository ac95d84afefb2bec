// The page's first request, run inline in the page's head (built as a
// classic script): when the link names a view and no search, the clusters
// of the whole window around it are asked for while the page's module and
// the map library load. map.js takes the answer when it holds the map's
// view (window.geoseekFirst), else asks again.
import { getJSON } from './api.js';
import { readHash } from './hash.js';
import { viewBox, clusterZoom, clustersURL } from './view.js';

const me = document.currentScript;
const st = readHash(location.hash, location.search);
if (st.center && st.z !== undefined && !st.q && !st.from && !st.to) {
  const c = st.c || (me && me.dataset.photos) || 'photos';
  const bbox = viewBox(st.center, st.z, innerWidth, innerHeight);
  const zoom = clusterZoom(st.z);
  window.geoseekFirst = { c, bbox, zoom, answer: getJSON(clustersURL(c, bbox, zoom)).catch(() => null) };
}
