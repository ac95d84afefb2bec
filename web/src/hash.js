// The page's state in the URL hash, so a link reproduces the view and the
// query: #c=photos&z=4.5&ll=48.1,11.6&q=lake&mode=hybrid&from=2024-01-01&to=2024-12-31&area=w,s,e,n
// A plain query (/map?q=lake, as the search form sends without script)
// is read too; the hash wins.
export function readHash(hash, search = '') {
  const p = new URLSearchParams(search.replace(/^\?/, ''));
  for (const [k, v] of new URLSearchParams(hash.replace(/^#/, ''))) p.set(k, v);
  const num = (s) => (s !== null && s !== '' && Number.isFinite(Number(s)) ? Number(s) : undefined);
  const st = { c: p.get('c') || '', q: p.get('q') || '', mode: p.get('mode') || 'keyword', from: p.get('from') || '', to: p.get('to') || '' };
  st.z = num(p.get('z'));
  const ll = (p.get('ll') || '').split(',').map(num);
  if (ll.length === 2 && ll[0] !== undefined && ll[1] !== undefined) st.center = [ll[1], ll[0]];
  const area = (p.get('area') || '').split(',').map(num);
  if (area.length === 4 && area.every((v) => v !== undefined)) st.area = area;
  if (!['keyword', 'semantic', 'hybrid'].includes(st.mode)) st.mode = 'keyword';
  if (!/^\d{4}-\d{2}-\d{2}$/.test(st.from)) st.from = '';
  if (!/^\d{4}-\d{2}-\d{2}$/.test(st.to)) st.to = '';
  return st;
}

export function writeHash(st, map) {
  const p = new URLSearchParams();
  if (st.c) p.set('c', st.c);
  const c = map.getCenter();
  p.set('z', map.getZoom().toFixed(2));
  p.set('ll', c.lat.toFixed(5) + ',' + c.lng.toFixed(5));
  if (st.q) p.set('q', st.q);
  if (st.q && st.mode !== 'keyword') p.set('mode', st.mode);
  if (st.from) p.set('from', st.from);
  if (st.to) p.set('to', st.to);
  if (st.area) p.set('area', st.area.map((v) => v.toFixed(5)).join(','));
  const h = '#' + p.toString().replace(/%2C/g, ',');
  if (h !== location.hash || location.search) history.replaceState(null, '', location.pathname + h);
  return h;
}
