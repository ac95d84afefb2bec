// Requests to geoseek: JSON reads with the API key the user entered (when
// reads need one), problem+json turned into readable errors, and uploads
// with progress.
const KEY = 'geoseek.key';

export function apiKey() {
  try {
    return sessionStorage.getItem(KEY) || '';
  } catch {
    return '';
  }
}

export function setKey(k) {
  try {
    if (k) sessionStorage.setItem(KEY, k);
    else sessionStorage.removeItem(KEY);
  } catch {
    // Storage refused (private mode): the key lives as long as the page.
  }
}

function headers() {
  const h = { Accept: 'application/json, application/geo+json' };
  const k = apiKey();
  if (k) h.Authorization = 'Bearer ' + k;
  return h;
}

// problemText is the sentence a problem+json answer gives, or the status.
async function problemText(r) {
  try {
    const p = await r.json();
    return p.detail || p.title || r.statusText;
  } catch {
    return r.status + ' ' + r.statusText;
  }
}

// keyError is the error of a read the server refused for want of a key
// (401) or of the key's scope (403): its needsKey asks the page to offer
// the key form.
async function keyError(r) {
  const why = await problemText(r);
  const e = new Error(apiKey()
    ? 'The API key was not accepted (' + why + '): enter another under Upload'
    : 'This server shows its data only with an API key: enter one under Upload');
  e.needsKey = true;
  return e;
}

export async function getJSON(url, signal) {
  const r = await fetch(url, { headers: headers(), signal, cache: 'no-cache' });
  if (r.status === 401 || r.status === 403) throw await keyError(r);
  if (!r.ok) throw new Error(await problemText(r));
  return r.json();
}

// getBlob reads a file (a thumbnail, an original) with the key, for
// where an <img> or a link cannot send it.
export async function getBlob(url) {
  const r = await fetch(url, { headers: headers() });
  if (r.status === 401 || r.status === 403) throw await keyError(r);
  if (!r.ok) throw new Error(await problemText(r));
  return r.blob();
}

// uploadPhoto posts one file as multipart/form-data, reporting progress
// (0..1) while the bytes leave; it resolves with the file's result.
export function uploadPhoto(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/photos');
    const k = apiKey();
    if (k) xhr.setRequestHeader('Authorization', 'Bearer ' + k);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new Error('network error'));
    xhr.ontimeout = () => reject(new Error('timed out'));
    xhr.timeout = 10 * 60 * 1000;
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // not JSON: reported below by status
      }
      const res = body && body.results && body.results[0];
      if (xhr.status >= 400) {
        const msg = (res && res.error && (res.error.detail || res.error.title)) || (body && (body.detail || body.title)) || xhr.statusText;
        reject(new Error(msg));
        return;
      }
      resolve(res || {});
    };
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}
