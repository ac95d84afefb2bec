// Popup and panel contents, built as DOM nodes (never HTML strings: titles
// and properties are user data).
import { apiKey, getBlob } from './api.js';
export function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false) e.append(k);
  return e;
}

function offsetText(min) {
  const s = min < 0 ? '-' : '+';
  const a = Math.abs(min);
  return 'UTC' + s + String(Math.floor(a / 60)).padStart(2, '0') + ':' + String(a % 60).padStart(2, '0');
}

const tzSources = {
  offset_tag: 'from the camera\u2019s offset tag',
  gps_zone: 'from the position\u2019s time zone',
  gps_utc: 'from the GPS clock',
  unknown: 'time zone unknown',
};

// takenText is the photo's local time and where its time zone came from.
export function takenText(p) {
  if (!p.taken_local) return 'time unknown';
  const t = p.taken_local.replace('T', ' ').slice(0, 16);
  const zone = [];
  if (p.utc_offset_minutes !== null && p.utc_offset_minutes !== undefined) zone.push(offsetText(p.utc_offset_minutes));
  if (p.tz_name) zone.push(p.tz_name);
  const src = tzSources[p.tz_source] || (p.tz_source ? 'time zone: ' + p.tz_source.replace(/_/g, ' ') : '');
  return t + (zone.length ? ' ' + zone.join(', ') : '') + (src ? ' (' + src + ')' : '');
}

export function cameraText(p) {
  const make = p.camera_make || '';
  let model = p.camera_model || '';
  if (make && model.toLowerCase().startsWith(make.toLowerCase())) model = model.slice(make.length).trim();
  return [make, model].filter(Boolean).join(' ') || 'camera unknown';
}

export function placeText(p) {
  const pl = p.place || {};
  return [pl.city, pl.region, pl.country].filter((s, i, a) => s && a.indexOf(s) === i).join(', ') || 'place unknown';
}

// thumb is a photo's thumbnail. Where reads need a key, an <img> cannot
// send it: the image is fetched with the key and shown from a blob URL.
function thumb(id, cls, alt) {
  const img = el('img', { class: cls, alt, width: 240 });
  const src = '/photos/' + id + '/thumbnail';
  const k = apiKey();
  if (!k) {
    img.src = src;
    return img;
  }
  getBlob(src)
    .then((b) => { img.src = URL.createObjectURL(b); })
    .catch(() => { img.alt = alt + ' (thumbnail unavailable)'; });
  return img;
}

// originalLink opens the photo's original file; where reads need a key, a
// link cannot send it, so the file is read with the key and saved under its
// own name.
function originalLink(p) {
  const href = '/photos/' + p.id + '/original';
  const a = el('a', { href, target: '_blank', rel: 'noopener', class: 'original', text: 'Open the original' });
  if (!apiKey()) return a;
  a.textContent = 'Download the original';
  a.addEventListener('click', (e) => {
    e.preventDefault();
    a.setAttribute('aria-busy', 'true');
    getBlob(href)
      .then((b) => {
        const u = URL.createObjectURL(b);
        const save = el('a', { href: u, download: p.original_name || 'photo-' + p.id });
        document.body.append(save);
        save.click();
        save.remove();
        setTimeout(() => URL.revokeObjectURL(u), 60000);
        a.removeAttribute('aria-busy');
      })
      .catch((err) => {
        a.removeAttribute('aria-busy');
        a.textContent = 'The original could not be read: ' + err.message;
      });
  });
  return a;
}

// photoPopup is the small card: thumbnail, time, camera, place.
export function photoPopup(p, onDetails) {
  return el('div', { class: 'card' },
    thumb(p.id, 'thumb', p.title || p.original_name || 'photo ' + p.id),
    el('strong', { text: p.title || p.original_name || 'Photo ' + p.id }),
    el('span', { class: 'taken', text: takenText(p) }),
    el('span', { class: 'camera', text: cameraText(p) }),
    el('span', { class: 'place', text: placeText(p) }),
    el('button', { type: 'button', class: 'link', onclick: onDetails, text: 'Details' }));
}

// valueNode renders a property value by its type.
export function valueNode(v) {
  if (v === null || v === undefined) return el('span', { class: 'v-null', text: '—' });
  if (typeof v === 'boolean') return el('span', { class: 'v-bool', text: v ? 'yes' : 'no' });
  if (typeof v === 'number') return el('span', { class: 'v-num', text: v.toLocaleString() });
  if (typeof v === 'string') {
    if (/^https?:\/\//.test(v)) return el('a', { href: v, rel: 'noopener noreferrer', text: v });
    return el('span', { class: 'v-str', text: v });
  }
  if (Array.isArray(v)) return el('span', { class: 'v-list' }, ...v.map((x) => el('span', { class: 'chip' }, valueNode(x))));
  return el('dl', { class: 'v-obj' }, ...Object.entries(v).flatMap(([k, x]) => [el('dt', { text: k }), el('dd', {}, valueNode(x))]));
}

export function propsTable(props) {
  return el('dl', { class: 'props' }, ...Object.entries(props || {}).flatMap(([k, v]) => [el('dt', { text: k }), el('dd', {}, valueNode(v))]));
}

export function photoPanel(p) {
  const rows = [
    ['Taken', takenText(p)], ['Camera', cameraText(p) + (p.lens ? ' · ' + p.lens : '')], ['Place', placeText(p)],
    ['Position', p.lat != null ? p.lat.toFixed(5) + ', ' + p.lon.toFixed(5) + (p.alt_m != null ? ' · ' + Math.round(p.alt_m) + ' m' : '') : 'none'],
    ['Size', (p.width && p.height ? p.width + ' × ' + p.height + ' px · ' : '') + Math.round(p.size / 1024).toLocaleString() + ' kB · ' + p.mime],
    ['File', p.original_name || '—'],
  ];
  return [
    thumb(p.id, 'panel-thumb', p.title || 'photo ' + p.id),
    el('h2', { text: p.title || p.original_name || 'Photo ' + p.id }),
    el('dl', { class: 'props' }, ...rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })])),
    el('p', {}, originalLink(p),
      ' · ', el('a', { href: '/collections/photos/items/' + p.id + '?f=html', text: 'As a feature' })),
  ];
}
