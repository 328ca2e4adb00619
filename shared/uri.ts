// URI parsing for task inputs, resources and outputs, shared by the server (which
// validates them at submit time) and the worker (which fetches and uploads them).
// A resource may carry post-processing steps after `|`, e.g. `s3://refs/hg38.tar.gz|untar`
// or `s3://refs/hg38.fa.gz|gunzip|mv:hg38` (worker/unpack.ts applies them).
// A URI never carries credentials: task definitions are stored, shown and logged, so the
// worker takes them from its own environment (the AWS chain, ~/.netrc) instead.

export const URI_SCHEMES = ['s3', 'ftp', 'ftps', 'http', 'https', 'file'] as const;
export type UriScheme = (typeof URI_SCHEMES)[number];

/** The steps a resource may name after `|`, as written; `mv` takes a folder: `mv:DIR`. */
export const RESOURCE_STEPS = ['gunzip', 'untar', 'unzip', 'mv:DIR'] as const;
export type ResourceStep = { kind: 'gunzip' | 'untar' | 'unzip' } | { kind: 'mv'; dir: string };

export interface ParsedUri {
  scheme: UriScheme;
  /** Bucket for s3, host for ftp/http(s), empty for file. */
  host: string;
  /** Key for s3, path for the others, without a leading slash for s3. */
  path: string;
  url: URL;
}

export interface ParsedResource extends ParsedUri {
  steps: ResourceStep[];
}

export type UriResult<T> = { ok: true; value: T } | { ok: false; error: string };

export function parseUri(text: string): UriResult<ParsedUri> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, error: `not a URI: expected one of ${URI_SCHEMES.map((s) => s + '://').join(', ')}` };
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (!(URI_SCHEMES as readonly string[]).includes(scheme)) {
    return { ok: false, error: `unsupported scheme "${scheme}": expected one of ${URI_SCHEMES.join(', ')}` };
  }
  if (url.username || url.password) {
    return {
      ok: false,
      error: 'credentials in a URI are refused (they would be stored and shown with the task): '
        + 'give them to the worker instead (the AWS credential chain for s3, ~/.netrc for ftp)',
    };
  }
  // Only http(s) has a query string; elsewhere `?` and `#` would cut the path silently
  // (`s3://results/run#1/` would upload to `run/`), so a name with one spells it escaped.
  if (scheme !== 'http' && scheme !== 'https') {
    const cut = /[?#]/.exec(text)?.[0];
    if (cut) return { ok: false, error: `in ${scheme}:// URIs, a "${cut}" would end the path and what follows be dropped: write it as ${cut === '#' ? '%23' : '%3F'} in a name` };
  }
  const decoded = decodePath(url.pathname);
  if (decoded === undefined) return { ok: false, error: 'a "%" must start an escape of two hexadecimal digits, such as %20: write a "%" in a name as %25' };
  if (scheme === 'file') {
    // `file://data/x` reads `data` as a host, which the worker would drop: /x, not data/x.
    if (url.hostname && url.hostname !== 'localhost') {
      return { ok: false, error: `a file URI names a path on the worker, after three slashes (file:///PATH): "${url.hostname}" would be read as a host` };
    }
    if (!url.pathname || url.pathname === '/') return { ok: false, error: 'file URI needs a path' };
    return { ok: true, value: { scheme: 'file', host: '', path: decoded, url } };
  }
  if (!url.hostname) return { ok: false, error: `${scheme} URI needs a ${scheme === 's3' ? 'bucket' : 'host'}` };
  return {
    ok: true,
    value: { scheme: scheme as UriScheme, host: url.hostname, path: scheme === 's3' ? decoded.replace(/^\//, '') : decoded, url },
  };
}

/** The path with its %-escapes decoded, or undefined when one is not an escape (`50%.fq`). */
function decodePath(pathname: string): string | undefined {
  try {
    return decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
}

/**
 * The name a file or folder lands under in the folder it is fetched into: the last segment of
 * its path, never one that would climb out of that folder.
 */
export function localName(path: string): string {
  const name = path.split('/').filter((segment) => segment !== '').at(-1) ?? '';
  return name === '' || name === '.' || name === '..' ? 'download' : name;
}

/**
 * Where inputs[i] lands as inputs[j] did before it, j for each i: inputs are fetched side by
 * side into one folder, at once, and of two files of one name the last one finished would
 * silently replace the other. A folder's content (a URI ending in `/`) is not known before it
 * is listed, so it is left out.
 */
export function sameLandings(inputs: string[]): { index: number; earlier: number; name: string }[] {
  const found: { index: number; earlier: number; name: string }[] = [];
  // Most tasks have one input or none: nothing to compare, and no URI parsed a second time.
  if (inputs.length < 2) return found;
  const first = new Map<string, number>();
  inputs.forEach((text, index) => {
    const parsed = parseSource(text);
    if (!parsed.ok || parsed.value.path === '' || parsed.value.path.endsWith('/')) return;
    const name = localName(parsed.value.path);
    const earlier = first.get(name);
    if (earlier === undefined) first.set(name, index);
    else found.push({ index, earlier, name });
  });
  return found;
}

/** The schemes that take uploads and list folders: all but http(s). */
export const WRITABLE_SCHEMES: readonly UriScheme[] = ['s3', 'ftp', 'ftps', 'file'];
const writableList = `${WRITABLE_SCHEMES.slice(0, -1).join(', ')} or ${WRITABLE_SCHEMES.at(-1)}`;

/** What an output URI's scheme is refused with, when it takes no uploads. */
export const noUploads = (scheme: string, what = 'uploads'): string => `${scheme}:// takes no ${what}: use ${writableList}`;

/** Why an http(s) URI cannot name a folder. */
export const HTTP_NAMES_FILES = `an http(s) URI names a file: folders are fetched over ${writableList}`;

/** An input's (or a resource's) URI: an http(s) one names a file, since HTTP lists no folder. */
export function parseSource(text: string): UriResult<ParsedUri> {
  const parsed = parseUri(text);
  if (parsed.ok && (parsed.value.scheme === 'http' || parsed.value.scheme === 'https')) {
    if (parsed.value.path === '/') return { ok: false, error: 'an http(s) URI names a file: give its path after the host' };
    if (parsed.value.path.endsWith('/')) return { ok: false, error: `${HTTP_NAMES_FILES} (no trailing slash)` };
  }
  return parsed;
}

/** Kernel pseudo file systems, on every Linux worker: no folder can be made in them (a mkdir in /proc says ENOENT). */
const KERNEL_FOLDERS = ['proc', 'sys'];

/** An output's URI: a scheme that takes uploads, and no folder of the kernel's pseudo file systems. */
export function parseDestination(text: string): UriResult<ParsedUri> {
  const parsed = parseUri(text);
  if (parsed.ok && !WRITABLE_SCHEMES.includes(parsed.value.scheme)) return { ok: false, error: noUploads(parsed.value.scheme) };
  const top = parsed.ok && parsed.value.scheme === 'file' ? parsed.value.path.split('/').find((part) => part !== '') : undefined;
  if (top !== undefined && KERNEL_FOLDERS.includes(top)) {
    return { ok: false, error: `/${top} is the kernel's own file system on every worker, which takes no output: give a folder of a real disk` };
  }
  return parsed;
}

export function parseResource(text: string): UriResult<ParsedResource> {
  const [uri, ...texts] = text.split('|');
  const parsed = parseSource(uri ?? '');
  if (!parsed.ok) return parsed;
  const steps: ResourceStep[] = [];
  for (const [i, stepText] of texts.entries()) {
    const step = parseStep(stepText);
    if (!step.ok) return step;
    // A step after mv would work in a fresh folder and drop the move.
    if (step.value.kind === 'mv' && i < texts.length - 1) return { ok: false, error: 'the mv step comes last: no step may follow it' };
    steps.push(step.value);
  }
  return { ok: true, value: { ...parsed.value, steps } };
}

function parseStep(text: string): UriResult<ResourceStep> {
  const colon = text.indexOf(':');
  const name = colon < 0 ? text : text.slice(0, colon);
  switch (name) {
    case 'gunzip':
    case 'untar':
    case 'unzip':
      if (colon >= 0) return { ok: false, error: `the ${name} step takes no argument, but got "${text}"` };
      return { ok: true, value: { kind: name } };
    case 'mv': {
      if (colon < 0) return { ok: false, error: 'the mv step needs a folder: mv:DIR, e.g. mv:hg38' };
      const dir = text.slice(colon + 1);
      const problem = relativeFolderProblem(dir);
      if (problem) return { ok: false, error: `the folder of "mv:${dir}" ${problem}` };
      return { ok: true, value: { kind: 'mv', dir } };
    }
    default:
      return { ok: false, error: `unknown resource step "${text}": expected one of ${RESOURCE_STEPS.join(', ')}` };
  }
}

/** Why `dir` cannot name a folder inside the resource, or undefined when it can. */
function relativeFolderProblem(dir: string): string | undefined {
  if (dir === '') return 'is empty: write mv:DIR, e.g. mv:hg38';
  if (dir.startsWith('/')) return 'must be relative to /resource, without a leading /';
  if (dir.includes('\0')) return 'contains a NUL character';
  const segments = dir.split('/');
  if (segments.includes('..')) return 'may not climb out of /resource with ..';
  if (segments.some((s) => s === '' || s === '.')) return 'has an empty or "." segment';
  return undefined;
}

/** The URI with any credentials masked, for messages (a username alone may be a token). */
export function maskUri(text: string): string {
  try {
    const url = new URL(text);
    if (!url.username && !url.password) return text;
    if (url.username) url.username = '***';
    if (url.password) url.password = '***';
    return url.href;
  } catch {
    return text.replace(/\/\/[^/@]*@/, '//***@');
  }
}
