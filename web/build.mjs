// Builds the map page's assets into dist/: one ES module per page (map,
// features) sharing a MapLibre chunk, their CSS, a gzipped copy of each file
// and manifest.json naming the content-hashed files for the Go server.
import * as esbuild from 'esbuild';
import { readdir, rm, writeFile, readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import path from 'node:path';

const out = 'dist';
for (const f of await readdir(out)) {
  if (f !== '.keep') await rm(path.join(out, f), { recursive: true });
}
const result = await esbuild.build({
  entryPoints: { map: 'src/map.js', features: 'src/features.js' },
  bundle: true,
  splitting: true,
  format: 'esm',
  minify: true,
  sourcemap: false,
  target: ['es2020'],
  outdir: out,
  entryNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
const manifest = {};
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  const base = path.basename(file);
  if (meta.entryPoint) {
    const name = path.basename(meta.entryPoint, '.js');
    manifest[name + '.js'] = base;
    if (meta.cssBundle) manifest[name + '.css'] = path.basename(meta.cssBundle);
    // The chunks a page's module imports, which the page preloads so that
    // they are fetched with the module rather than after it.
    const chunks = meta.imports.filter((i) => i.kind === 'import-statement').map((i) => path.basename(i.path));
    if (chunks.length) manifest[name + '.preload'] = chunks.join(',');
  }
}
// The map page's first request, inlined in the page as a classic script.
await esbuild.build({
  entryPoints: ['src/early.js'],
  bundle: true,
  format: 'iife',
  minify: true,
  target: ['es2020'],
  outfile: path.join(out, 'early.js'),
  logLevel: 'warning',
});
manifest['early.js'] = 'early.js';
for (const f of await readdir(out)) {
  if (/\.(js|css|txt)$/.test(f)) {
    await writeFile(path.join(out, f + '.gz'), gzipSync(await readFile(path.join(out, f)), { level: 9 }));
  }
}
await writeFile(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
console.log('web: built', Object.values(manifest).join(', '));
