// Every limit on what a client may send, in one place: the request schemas (shared/schemas),
// the HTTP layer (server/http) and the commands read them from here, and docs/security.md
// ("Limits") lists them with the status of a refusal. A limit either protects the server
// (memory, one transaction's size) or keeps a task runnable on a worker (execve's limits);
// none is a quota.

/** The request target, path and query string: over it, 414. */
export const MAX_URL_BYTES = 8 * 1024;
/** The request line and the headers together: over it, 431 (or 414 when the URL is what overflows). */
export const MAX_HEADER_BYTES = 16 * 1024;
/** A JSON request body: over it, 413. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** How deeply arrays and objects may nest in a JSON body (far deeper than any request schema goes): over it, 400. */
export const MAX_JSON_DEPTH = 32;

/** Tasks in one submission (`{"tasks": [...]}`): over it, 413. */
export const MAX_TASKS_PER_REQUEST = 10_000;
/** Tasks one sweep may make: over it, 413, before any is expanded. */
export const MAX_SWEEP_TASKS = 100_000;
/** Tasks one bulk steering action (by filter) may change: over it, 413, before anything changes. */
export const MAX_BULK_TASKS = 100_000;

/** A task's command, in characters (the worker writes it to a script file, so execve's limits do not apply): over it, 400. */
export const MAX_COMMAND_CHARS = 1024 * 1024;
/** One environment value; under Linux's 128 KiB for one execve string: over it, 400. */
export const MAX_ENV_VALUE_CHARS = 64 * 1024;
/** Variables in a task's `env`: over it, 400. */
export const MAX_ENV_VARS = 256;
/** A task's `env` in all, names and values; well under what execve takes with the worker's own variables: over it, 400. */
export const MAX_ENV_CHARS = 256 * 1024;

/** One output chunk a worker reports, in base64 characters (6 MiB of output): over it, 400. */
export const MAX_OUTPUT_CHUNK_CHARS = 8 * 1024 * 1024;

/** Items in one page of a list (`limit`): over it, 400 (not clamped, so a client never misreads a short page as the end). */
export const MAX_PAGE_SIZE = 1000;
export const DEFAULT_PAGE_SIZE = 100;
