// The docs say what the code does: error codes, config keys and the topic table are regenerated and compared.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import prettier from 'prettier';
import { renderConfiguration, renderErrors, withTopics } from '../scripts/doc-tables.js';

const path = (file: string) => fileURLToPath(new URL(`../${file}`, import.meta.url));
const read = (file: string) => readFileSync(path(file), 'utf8');

/** The committed files are Prettier-formatted; format the generated text the same way before comparing. */
async function formatted(file: string, text: string): Promise<string> {
  const options = (await prettier.resolveConfig(path(file))) ?? {};
  return prettier.format(text, { ...options, filepath: path(file) });
}

test('docs/errors.md lists exactly the error codes in the code (run npm run docs)', async () => {
  assert.equal(read('docs/errors.md'), await formatted('docs/errors.md', renderErrors()));
});

test('docs/configuration.md lists every config key with its default (run npm run docs)', async () => {
  assert.equal(read('docs/configuration.md'), await formatted('docs/configuration.md', renderConfiguration()));
});

test('the README topic table matches the message contract (run npm run docs)', async () => {
  const readme = read('README.md');
  assert.equal(readme, await formatted('README.md', withTopics(readme)));
});

test('the README keeps its two set-up commands', () => {
  const readme = read('README.md');
  assert.match(readme, /npm install\s*\nnpm start/);
  assert.match(readme, /npm test/);
  assert.match(readme, /npm run bench/);
});
