// @ts-check
// The nodes of a relay cluster, as the page follows them: the relay that served the page
// first, then the nodes its /api/info lists. When the node in use cannot be reached, the
// page moves on to the next one with the same link (every node of a cluster serves every
// session). Only nodes of the page's own scheme are taken: an https page never turns to a
// plain-http node. A relay alone lists no nodes, and nothing changes.

export class Nodes {
  /** @param {string} first the origin of the page's own relay */
  constructor(first) {
    /** @type {string[]} */
    this.origins = [first];
    this.at = 0;
  }

  /** The origin of the node to use now. */
  current() {
    return this.origins[this.at];
  }

  /**
   * Remembers the nodes a relay's /api/info lists (`nodes: [{ id, url }]`).
   * @param {unknown} listed
   */
  learn(listed) {
    if (!Array.isArray(listed)) return;
    const scheme = new URL(this.origins[0]).protocol;
    for (const node of listed) {
      const origin = originOf(node?.url, scheme);
      if (origin && !this.origins.includes(origin)) this.origins.push(origin);
    }
  }

  /** Moves on to the next node; false when there is no other. */
  advance() {
    if (this.origins.length < 2) return false;
    this.at = (this.at + 1) % this.origins.length;
    return true;
  }
}

/**
 * The origin of `url` if it is one of `scheme`, else null.
 * @param {unknown} url
 * @param {string} scheme
 */
function originOf(url, scheme) {
  if (typeof url !== 'string') return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === scheme ? parsed.origin : null;
  } catch {
    return null;
  }
}
