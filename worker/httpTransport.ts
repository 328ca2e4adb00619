// The worker's way to its server: node:http with kept-alive connections, where fetch
// (undici) cost about a sixth of a busy worker's own CPU in its profile: 0.25–0.3 ms of CPU
// per request against about 0.05 ms this way (docs/performance.md). Each exchange is read
// whole, as the worker's calls answer JSON; the agent keeps a connection no longer than the
// server's keep-alive hint allows, so a kept one is not reused after the server closed it.
import http from 'node:http';
import https from 'node:https';
import type { BufferedAnswer, Transport } from '../shared/client.js';

const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

export const nodeTransport: Transport = (url, request) => new Promise<BufferedAnswer>((resolve, reject) => {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const sent = (secure ? https : http).request(target, {
    method: request.method, headers: request.headers, agent: secure ? agents.https : agents.http, signal: request.signal,
  }, (response) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => resolve({ status: response.statusCode ?? 0, statusText: response.statusMessage ?? '', text: Buffer.concat(chunks).toString('utf8') }));
    response.on('error', reject);
  });
  sent.on('error', reject);
  sent.end(request.body);
});
