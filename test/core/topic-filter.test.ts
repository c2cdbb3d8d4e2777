// MQTT topic matching and ACL containment, one test per vector in test/vectors/mqtt-3.1.1-topic-filters.json.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { assertTopicFilter, assertTopicName, filterWithin, topicMatches } from '../../src/core/topic-filter.js';

const vectors = JSON.parse(readFileSync(new URL('../vectors/mqtt-3.1.1-topic-filters.json', import.meta.url), 'utf8')) as {
  matches: { id: string; filter: string; topic: string; match: boolean }[];
  invalidFilters: { id: string; filter: string }[];
  within: { id: string; inner: string; outer: string; within: boolean }[];
};

describe('topicMatches', () => {
  for (const v of vectors.matches) {
    test(`${v.id}: "${v.filter}" ${v.match ? 'matches' : 'does not match'} "${v.topic}"`, () => {
      assert.equal(topicMatches(v.filter, v.topic), v.match);
    });
  }
});

describe('assertTopicFilter rejects malformed filters', () => {
  for (const v of vectors.invalidFilters) {
    test(`${v.id}: "${v.filter}"`, () => assert.throws(() => assertTopicFilter(v.filter), { code: 'CORE_TOPIC_INVALID' }));
  }
  test('topic names may not hold wildcards', () => {
    assert.throws(() => assertTopicName('dctrl/v1/+/tap'), { code: 'CORE_TOPIC_INVALID' });
    assert.throws(() => assertTopicName('dctrl/#'), { code: 'CORE_TOPIC_INVALID' });
  });
});

describe('filterWithin (a requested subscription inside a granted filter)', () => {
  for (const v of vectors.within) {
    test(`${v.id}: "${v.inner}" ${v.within ? 'within' : 'not within'} "${v.outer}"`, () => {
      assert.equal(filterWithin(v.inner, v.outer), v.within);
    });
  }
  test('containment agrees with matching on sample topics', () => {
    const topics = ['dctrl/v1/door/tap', 'dctrl/v1/door', 'dctrl/v1', 'dctrl/v1/vend/x/y', 'dctrl', '$SYS/x'];
    for (const v of vectors.within) {
      if (!v.within) continue;
      for (const topic of topics) {
        if (topicMatches(v.inner, topic)) assert.ok(topicMatches(v.outer, topic), `${v.id}: ${topic}`);
      }
    }
  });
});
