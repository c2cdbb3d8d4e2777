// The dashboard's files (built by `npm run build` into dist/public) at /; app.ts answers any other page address
// outside /api with index.html. Files are served only from inside the folder: `..` and encoded variants never
// leave it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { packageRoot } from '../core/package-root.js';
import type { AppDeps } from './deps.js';

export async function registerStatic(app: FastifyInstance, { config, logger }: AppDeps): Promise<void> {
  const root = config.server.publicDir ?? join(packageRoot(), 'dist', 'public');
  if (!existsSync(join(root, 'index.html'))) {
    logger.warn({ root }, 'no dashboard files (run npm run build); the REST API works without them');
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    index: ['index.html'],
    dotfiles: 'deny',
    cacheControl: false,
    // The asset links carry a hash of their content, so they may be kept; index.html never.
    setHeaders: (response, path) => {
      response.setHeader('cache-control', path.endsWith('index.html') ? 'no-cache' : 'public, max-age=31536000, immutable');
      response.setHeader('x-content-type-options', 'nosniff');
    },
  });
}
