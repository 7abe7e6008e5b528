// Following a relay cluster's nodes: the page's own relay first, then the listed ones in
// turn; nothing of another scheme, nothing malformed.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Nodes } from '../nodes.js';

test('the nodes a relay lists are tried in turn after its own', () => {
  const nodes = new Nodes('https://a.example');
  assert.equal(nodes.advance(), false, 'a relay alone');
  nodes.learn([
    { id: 'a', url: 'https://a.example/' },
    { id: 'b', url: 'https://b.example:8443' },
    { id: 'c', url: 'http://c.example' },
    { id: 'd', url: 'not a url' },
    { id: 'e' },
    null,
  ]);
  nodes.learn('not a list');
  assert.equal(nodes.current(), 'https://a.example');
  assert.equal(nodes.advance(), true);
  assert.equal(nodes.current(), 'https://b.example:8443');
  nodes.advance();
  assert.equal(nodes.current(), 'https://a.example', 'the plain-http node is not taken');
});
