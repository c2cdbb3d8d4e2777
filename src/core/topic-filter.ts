// MQTT 3.1.1 topic names and filters: validation, matching, and filter containment for ACLs.
import { CoreError } from './errors.js';

const MAX_TOPIC_BYTES = 65535; // [MQTT-1.5.3] UTF-8 strings are at most 65535 bytes

/** @throws CoreError CORE_TOPIC_INVALID when the name is empty, too long, holds a wildcard or NUL. */
export function assertTopicName(topic: string): void {
  if (topic.length === 0) throw new CoreError('CORE_TOPIC_INVALID', 'a topic name must not be empty [MQTT-4.7.3-1]');
  if (Buffer.byteLength(topic) > MAX_TOPIC_BYTES) {
    throw new CoreError('CORE_TOPIC_INVALID', `a topic name is at most ${MAX_TOPIC_BYTES} bytes`);
  }
  if (topic.includes('+') || topic.includes('#') || topic.includes('\u0000')) {
    throw new CoreError('CORE_TOPIC_INVALID', `topic name "${topic}" must not contain "+", "#" or NUL [MQTT-3.3.2-2]`);
  }
}

/** @throws CoreError CORE_TOPIC_INVALID when wildcards are misplaced [MQTT-4.7.1-2], [MQTT-4.7.1-3]. */
export function assertTopicFilter(filter: string): void {
  if (filter.length === 0) throw new CoreError('CORE_TOPIC_INVALID', 'a topic filter must not be empty [MQTT-4.7.3-1]');
  if (filter.includes('\u0000')) throw new CoreError('CORE_TOPIC_INVALID', 'a topic filter must not contain NUL');
  const levels = filter.split('/');
  levels.forEach((level, index) => {
    if (level.includes('#') && (level !== '#' || index !== levels.length - 1)) {
      throw new CoreError('CORE_TOPIC_INVALID', `"#" must be a whole level and the last one, in filter "${filter}"`);
    }
    if (level.includes('+') && level !== '+') {
      throw new CoreError('CORE_TOPIC_INVALID', `"+" must be a whole level, in filter "${filter}"`);
    }
  });
}

/**
 * True when `topic` matches `filter` with MQTT wildcard semantics, including
 * "sport/#" matching "sport" [MQTT-4.7.1-2] and wildcards at the first level never
 * matching topics that start with "$" [MQTT-4.7.2-1].
 */
export function topicMatches(filter: string, topic: string): boolean {
  const filterLevels = filter.split('/');
  const topicLevels = topic.split('/');
  if (topic.startsWith('$') && (filterLevels[0] === '+' || filterLevels[0] === '#')) return false;
  for (let i = 0; i < filterLevels.length; i++) {
    const level = filterLevels[i];
    if (level === '#') return true;
    if (i >= topicLevels.length) return false;
    if (level !== '+' && level !== topicLevels[i]) return false;
  }
  return filterLevels.length === topicLevels.length;
}

/**
 * True when every topic that `inner` can match is also matched by `outer`: the test
 * for whether a requested subscription stays inside an allowed filter.
 */
export function filterWithin(inner: string, outer: string): boolean {
  const innerLevels = inner.split('/');
  const outerLevels = outer.split('/');
  if (inner.startsWith('$') !== outer.startsWith('$') && (outerLevels[0] === '+' || outerLevels[0] === '#')) {
    return false;
  }
  for (let i = 0; i < outerLevels.length; i++) {
    const outerLevel = outerLevels[i];
    if (outerLevel === '#') return true;
    if (i >= innerLevels.length) return false;
    const innerLevel = innerLevels[i];
    if (innerLevel === '#') return false;
    if (outerLevel === '+') continue;
    if (innerLevel !== outerLevel) return false;
  }
  return innerLevels.length === outerLevels.length;
}

export function anyFilterMatches(filters: readonly string[], topic: string): boolean {
  return filters.some((filter) => topicMatches(filter, topic));
}

export function anyFilterContains(filters: readonly string[], requested: string): boolean {
  return filters.some((filter) => filterWithin(requested, filter));
}
