// URI parsing for task inputs, resources and outputs, shared by the server (which
// validates them at submit time) and the worker (which fetches and uploads them).
// A resource may carry post-processing steps after `|`, e.g. `s3://refs/hg38.tar.gz|untar`.
// A URI never carries credentials: task definitions are stored, shown and logged, so the
// worker takes them from its own environment (the AWS chain, ~/.netrc) instead.

export const URI_SCHEMES = ['s3', 'ftp', 'ftps', 'http', 'https', 'file'] as const;
export type UriScheme = (typeof URI_SCHEMES)[number];

export const RESOURCE_STEPS = ['untar', 'gunzip', 'unzip'] as const;
export type ResourceStep = (typeof RESOURCE_STEPS)[number];

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
  if (scheme === 'file') {
    if (!url.pathname || url.pathname === '/') return { ok: false, error: 'file URI needs a path' };
    return { ok: true, value: { scheme: 'file', host: '', path: decodeURIComponent(url.pathname), url } };
  }
  if (!url.hostname) return { ok: false, error: `${scheme} URI needs a ${scheme === 's3' ? 'bucket' : 'host'}` };
  const path = decodeURIComponent(url.pathname);
  return {
    ok: true,
    value: { scheme: scheme as UriScheme, host: url.hostname, path: scheme === 's3' ? path.replace(/^\//, '') : path, url },
  };
}

export function parseResource(text: string): UriResult<ParsedResource> {
  const [uri, ...steps] = text.split('|');
  const parsed = parseUri(uri ?? '');
  if (!parsed.ok) return parsed;
  for (const step of steps) {
    if (!(RESOURCE_STEPS as readonly string[]).includes(step)) {
      return { ok: false, error: `unknown resource step "${step}": expected one of ${RESOURCE_STEPS.join(', ')}` };
    }
  }
  return { ok: true, value: { ...parsed.value, steps: steps as ResourceStep[] } };
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
