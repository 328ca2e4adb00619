// The typed HTTP client of the REST API, built on the route contract in api.ts. The
// CLI, the worker and the tests all talk to the server through it.
import { API_PREFIX, routes, type RouteBody, type RouteName, type RouteParams, type RouteQuery, type RouteResponse } from './api.js';
import type { Problem } from './schemas/common.js';
import { parseSse, type SseMessage } from './sse.js';

export class LabqApiError extends Error {
  constructor(readonly problem: Problem) {
    super(`${problem.status} ${problem.title}${problem.detail ? ': ' + problem.detail : ''}`);
  }
  get status(): number {
    return this.problem.status;
  }
}

/**
 * No answer at all: the server is down, or the URL is wrong. Deliberately not a
 * LabqApiError, which callers (the worker's retries) read as "the server answered".
 */
export class LabqUnreachableError extends Error {
  constructor(readonly server: string, readonly url: string, cause: unknown) {
    super(`cannot reach the labq server at ${server} (${noAnswerReason(cause)})`, { cause });
  }
}

/**
 * Why no answer came: from fetch's cause (undici wraps the error), or the error itself from
 * another transport: `connect ECONNREFUSED 127.0.0.1:7420`, `getaddrinfo ENOTFOUND host`…
 * The worker's http(s) downloads say it too, rather than fetch's bare `fetch failed`.
 */
export function noAnswerReason(error: unknown): string {
  const cause = ((error as Error).cause ?? error) as (Error & { code?: string }) | undefined;
  const code = cause?.code;
  // An AggregateError (several addresses tried, as for localhost) has a code but no message.
  const text = cause?.message;
  const why = code && text && !text.includes(code) ? `${code}: ${text}` : text || code || (error as Error).message;
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code ?? '') ? `${why}; a private CA is trusted with NODE_EXTRA_CA_CERTS=ca.pem` : why;
}

export interface CallInput<N extends RouteName> {
  params?: RouteParams<N>;
  query?: RouteQuery<N>;
  body?: RouteBody<N>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** A request as the client sends it, whatever carries it. */
export interface Outgoing {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** An answer read whole. */
export interface BufferedAnswer {
  status: number;
  statusText: string;
  text: string;
}

/**
 * Sends a request and reads its answer whole; rejects, as fetch does, when no answer came
 * (an abort with the signal's reason). The worker's goes over node:http (worker/httpTransport.ts).
 */
export type Transport = (url: string, request: Outgoing) => Promise<BufferedAnswer>;

export interface ClientOptions {
  /** The server's base URL; '' in a page the server itself served (same origin). */
  server: string;
  token?: string;
  /** A browser session's CSRF token (from the login, or GET /auth/me), sent on every request that may change something. */
  csrfToken?: string;
  /** What carries the calls that answer JSON (`call`); fetch by default. Streams and text always go through fetch. */
  transport?: Transport;
}

/** fetch, read whole: the default transport of the JSON calls. */
const fetchTransport: Transport = async (url, request) => {
  const response = await fetch(url, request);
  return { status: response.status, statusText: response.statusText, text: await response.text() };
};

function apiError(status: number, statusText: string, text: string): LabqApiError {
  let problem: Problem;
  try {
    problem = JSON.parse(text);
  } catch {
    problem = { type: 'about:blank', title: statusText, status, detail: text.slice(0, 500) };
  }
  return new LabqApiError(problem);
}

function toQueryString(query: Record<string, unknown> | undefined): string {
  if (!query) return '';
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    search.set(key, Array.isArray(value) ? value.join(',') : String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export class LabqClient {
  readonly server: string;
  readonly token?: string;
  readonly csrfToken?: string;
  private readonly transport: Transport;

  constructor(options: ClientOptions) {
    this.server = options.server.replace(/\/+$/, '');
    this.token = options.token;
    this.csrfToken = options.csrfToken;
    this.transport = options.transport ?? fetchTransport;
  }

  url<N extends RouteName>(name: N, input: Pick<CallInput<N>, 'params' | 'query'> = {}): string {
    const params = (input.params ?? {}) as Record<string, unknown>;
    const path = routes[name].path.replace(/:(\w+)/g, (_, key: string) => encodeURIComponent(String(params[key])));
    return `${this.server}${API_PREFIX}${path}${toQueryString(input.query as Record<string, unknown>)}`;
  }

  private outgoing<N extends RouteName>(name: N, input: CallInput<N>, accept: string): Outgoing {
    const route = routes[name];
    const headers: Record<string, string> = { accept, ...input.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (this.csrfToken && route.method !== 'get') headers['x-csrf-token'] = this.csrfToken;
    if (input.body !== undefined) headers['content-type'] = 'application/json';
    return { method: route.method.toUpperCase(), headers, body: input.body === undefined ? undefined : JSON.stringify(input.body), signal: input.signal };
  }

  /** No answer came: an abort or timeout is the caller's own doing (the worker ends its polls so) and stays as it is. */
  private failure(error: unknown, url: string, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted || ['AbortError', 'TimeoutError'].includes((error as Error).name)) return error;
    return new LabqUnreachableError(this.server, url, error);
  }

  async fetch<N extends RouteName>(name: N, input: CallInput<N>, accept: string): Promise<Response> {
    const url = this.url(name, input);
    let response: Response;
    try {
      response = await fetch(url, this.outgoing(name, input, accept));
    } catch (error) {
      throw this.failure(error, url, input.signal);
    }
    if (!response.ok) throw apiError(response.status, response.statusText, await response.text());
    return response;
  }

  async call<N extends RouteName>(name: N, input: CallInput<N> = {}): Promise<RouteResponse<N>> {
    const url = this.url(name, input);
    let answer: BufferedAnswer;
    try {
      answer = await this.transport(url, this.outgoing(name, input, 'application/json'));
    } catch (error) {
      throw this.failure(error, url, input.signal);
    }
    if (answer.status < 200 || answer.status > 299) throw apiError(answer.status, answer.statusText, answer.text);
    return JSON.parse(answer.text) as RouteResponse<N>;
  }

  /** Follows an SSE route; ends when `signal` aborts or the server closes the stream. */
  async *stream<N extends RouteName>(name: N, input: CallInput<N> & { lastEventId?: string } = {}): AsyncGenerator<SseMessage> {
    const headers = { ...input.headers, ...(input.lastEventId ? { 'last-event-id': input.lastEventId } : {}) };
    const response = await this.fetch(name, { ...input, headers }, 'text/event-stream');
    if (!response.body) return;
    yield* parseSse(response.body);
  }

  submitTasks(body: RouteBody<'submitTasks'>) {
    return this.call('submitTasks', { body });
  }
  submitSweep(body: RouteBody<'submitSweep'>) {
    return this.call('submitSweep', { body });
  }
  listTasks(query: RouteQuery<'listTasks'> = {}) {
    return this.call('listTasks', { query });
  }
  countTasks(query: RouteQuery<'countTasks'> = {}) {
    return this.call('countTasks', { query });
  }
  getTask(id: number) {
    return this.call('getTask', { params: { id } });
  }
  taskEvents(id: number, query: RouteQuery<'taskEvents'> = {}) {
    return this.call('taskEvents', { params: { id }, query });
  }
  createWorkflow(body: RouteBody<'createWorkflow'>) {
    return this.call('createWorkflow', { body });
  }
  listWorkflows(query: RouteQuery<'listWorkflows'> = {}) {
    return this.call('listWorkflows', { query });
  }
  getWorkflow(id: number) {
    return this.call('getWorkflow', { params: { id } });
  }
  createStep(body: RouteBody<'createStep'>) {
    return this.call('createStep', { body });
  }
  listSteps(query: RouteQuery<'listSteps'> = {}) {
    return this.call('listSteps', { query });
  }
  getStep(id: number) {
    return this.call('getStep', { params: { id } });
  }
  stats(query: RouteQuery<'stats'> = {}) {
    return this.call('stats', { query });
  }
  listEvents(query: RouteQuery<'listEvents'> = {}) {
    return this.call('listEvents', { query });
  }
  killTask(id: number, graceSeconds?: number) {
    return this.call('killTask', { params: { id }, body: { grace_seconds: graceSeconds } });
  }
  suspendTask(id: number) {
    return this.call('suspendTask', { params: { id } });
  }
  continueTask(id: number) {
    return this.call('continueTask', { params: { id } });
  }
  registerWorker(body: RouteBody<'registerWorker'>) {
    return this.call('registerWorker', { body });
  }
  listWorkers(query: RouteQuery<'listWorkers'> = {}) {
    return this.call('listWorkers', { query });
  }
  getWorker(id: number) {
    return this.call('getWorker', { params: { id } });
  }
  updateWorker(id: number, body: RouteBody<'updateWorker'>) {
    return this.call('updateWorker', { params: { id }, body });
  }
  deleteWorker(id: number) {
    return this.call('deleteWorker', { params: { id } });
  }
  workerExecutions(id: number, query: RouteQuery<'workerExecutions'> = {}) {
    return this.call('workerExecutions', { params: { id }, query });
  }
  /** The workers' live view: `workers` (the whole list first, then those that changed) and `deleted` (ids) messages. */
  streamWorkers(signal?: AbortSignal) {
    return this.stream('streamWorkers', { signal });
  }
  pollWorker(id: number, body: RouteBody<'pollWorker'>, signal?: AbortSignal) {
    return this.call('pollWorker', { params: { id }, body, signal });
  }
  getExecution(id: number) {
    return this.call('getExecution', { params: { id } });
  }
  sendReports(id: number, body: RouteBody<'executionReports'>) {
    return this.call('executionReports', { params: { id }, body });
  }
  executionOutputSize(id: number) {
    return this.call('executionOutputSize', { params: { id } });
  }
  putSecret(name: string, value: string) {
    return this.call('putSecret', { params: { name }, body: { value } });
  }
  listSecrets() {
    return this.call('listSecrets');
  }
  removeSecret(name: string) {
    return this.call('removeSecret', { params: { name } });
  }
  getDockerPolicy() {
    return this.call('getDockerPolicy');
  }
  putDockerPolicy(body: RouteBody<'putDockerPolicy'>) {
    return this.call('putDockerPolicy', { body });
  }
  /** An execution's whole output so far, its bytes as the task wrote them (a task may write what is not UTF-8). */
  async executionOutputBytes(id: number, stream?: 'stdout' | 'stderr'): Promise<Uint8Array> {
    const response = await this.fetch('executionOutput', { params: { id }, query: { stream } }, 'text/plain');
    return new Uint8Array(await response.arrayBuffer());
  }
  /** The same, as text. */
  async executionOutput(id: number, stream?: 'stdout' | 'stderr'): Promise<string> {
    return new TextDecoder().decode(await this.executionOutputBytes(id, stream));
  }
  me() {
    return this.call('me');
  }
  listUsers() {
    return this.call('listUsers');
  }
  createUser(body: RouteBody<'createUser'>) {
    return this.call('createUser', { body });
  }
  updateUser(name: string, body: RouteBody<'updateUser'>) {
    return this.call('updateUser', { params: { name }, body });
  }
  removeUser(name: string) {
    return this.call('removeUser', { params: { name } });
  }
  listTokens() {
    return this.call('listTokens');
  }
  createToken(body: RouteBody<'createToken'>) {
    return this.call('createToken', { body });
  }
  revokeToken(name: string) {
    return this.call('revokeToken', { params: { name } });
  }
}
