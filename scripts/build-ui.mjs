// Bundles the browser dashboard (src/server/ui) with esbuild into dist/public: app.js, app.css and index.html,
// which the Server serves at /. Usage: node scripts/build-ui.mjs [outdir]
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const ui = join(root, 'src/server/ui');
const outdir = process.argv[2] ?? join(root, 'dist/public');

await mkdir(outdir, { recursive: true });
const result = await build({
  entryPoints: [
    { in: join(ui, 'main.tsx'), out: 'app' },
    { in: join(ui, 'app.css'), out: 'app' },
  ],
  outdir,
  bundle: true,
  format: 'esm',
  // Browsers of the last few years, phones included.
  target: 'es2020',
  minify: true,
  sourcemap: 'linked',
  tsconfig: join(ui, 'tsconfig.json'),
  metafile: true,
  logLevel: 'warning',
});

// The asset links carry a hash of their content, so a browser never pairs a new index.html with an old cached app.js.
let html = await readFile(join(ui, 'index.html'), 'utf8');
for (const asset of ['app.js', 'app.css']) {
  const hash = createHash('sha256')
    .update(await readFile(join(outdir, asset)))
    .digest('hex')
    .slice(0, 12);
  html = html.replace(`"/${asset}"`, `"/${asset}?v=${hash}"`);
}
await writeFile(join(outdir, 'index.html'), html);

const bytes = Object.entries(result.metafile.outputs)
  .filter(([file]) => !file.endsWith('.map'))
  .map(([file, output]) => `${file.split('/').pop()} ${(output.bytes / 1024).toFixed(1)} kB`);
console.log(`dashboard built into ${outdir}: ${bytes.join(', ')}`);
