// Redaction by path, as pino's `redact` option (fast-redact's syntax):
// `password`, `user.password`, `headers["x-api-key"]`, `*.secret`,
// `user.*`. A path is matched against where a value sits in the event's
// fields (call fields, child bindings and context alike) at any depth,
// before the value is stored; a matched object is censored whole.

/** `redact` as pino takes it: the paths, or the paths with a censor text or removal. */
export type RedactOption = string[] | { paths: string[]; censor?: string; remove?: boolean };

const DEFAULT_CENSOR = '[Redacted]';

/** A path's segments: `a.b["c-d"].*` -> ['a', 'b', 'c-d', '*']. Throws on a malformed path. */
export function parsePath(path: string): string[] {
  const segments: string[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new TypeError(`aires.init: redact path ${JSON.stringify(path)}: ${why}`);
  };
  while (i < path.length) {
    if (path[i] === '[') {
      const close = path.indexOf(']', i);
      if (close < 0) fail('unclosed [');
      let inside = path.slice(i + 1, close).trim();
      const quote = inside[0];
      if ((quote === '"' || quote === "'") && inside.endsWith(quote) && inside.length >= 2) {
        inside = inside.slice(1, -1);
      }
      if (inside === '') fail('empty []');
      segments.push(inside);
      i = close + 1;
      if (path[i] === '.') i++;
    } else {
      let end = i;
      while (end < path.length && path[end] !== '.' && path[end] !== '[') end++;
      const segment = path.slice(i, end);
      if (segment === '') fail('empty segment');
      segments.push(segment);
      i = end;
      if (path[i] === '.') {
        i++;
        if (i === path.length) fail('ends with .');
      }
    }
  }
  if (segments.length === 0) fail('empty');
  return segments;
}

/** The compiled `redact` option. */
export class Redactor {
  /** Paths without a wildcard, as dotted keys. */
  private readonly exact = new Set<string>();
  /** Paths with a wildcard (`*` stands for one segment). */
  private readonly wild: string[][] = [];
  /** What a matched value becomes; undefined removes it. */
  readonly censor: string | undefined;
  /** Top-level keys a path may start with ('*' for any). */
  readonly firstKeys = new Set<string>();
  /** Every path, as segments. */
  private readonly all: string[][] = [];

  constructor(option: RedactOption) {
    const { paths, censor, remove } = Array.isArray(option) ? { paths: option, censor: undefined, remove: false } : option;
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string')) {
      throw new TypeError('aires.init: redact must be an array of paths or { paths, censor?, remove? }');
    }
    if (censor !== undefined && typeof censor !== 'string') {
      throw new TypeError('aires.init: redact.censor must be a string');
    }
    for (const path of paths) {
      const segments = parsePath(path);
      this.all.push(segments);
      this.firstKeys.add(segments[0]);
      if (segments.includes('*')) this.wild.push(segments);
      else this.exact.add(segments.join('.'));
    }
    this.censor = remove === true ? undefined : (censor ?? DEFAULT_CENSOR);
  }

  /** Whether some path reaches below `path` (dotted): then the value there is walked. */
  coversBelow(path: string): boolean {
    const segments = path.split('.');
    return this.all.some((p) => p.length > segments.length && segments.every((s, i) => p[i] === '*' || p[i] === s));
  }

  /** Whether the value at `path` (dotted) is redacted. */
  matches(path: string): boolean {
    if (this.exact.has(path)) return true;
    if (this.wild.length === 0) return false;
    const segments = path.split('.');
    return this.wild.some((w) => w.length === segments.length && w.every((s, i) => s === '*' || s === segments[i]));
  }
}
