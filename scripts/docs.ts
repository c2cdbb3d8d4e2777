// `npm run docs`: rewrites docs/errors.md, docs/configuration.md and the README topic table from the code.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfiguration, renderErrors, withTopics } from './doc-tables.js';

writeFileSync('docs/errors.md', renderErrors());
writeFileSync('docs/configuration.md', renderConfiguration());
writeFileSync('README.md', withTopics(readFileSync('README.md', 'utf8')));
console.log('wrote docs/errors.md, docs/configuration.md and the README topic table');
