// A TCP proxy for tests that cut a worker off from its server like a network would.
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of the server, to cut a worker off like a network would. `cut()`
 * refuses new connections and resets the open ones (a server or a route that is gone);
 * `freeze()` refuses new connections and silently drops whatever the open ones carry, now
 * and forever, without closing them (a link that goes dark, a NAT that forgets them);
 * `restore()` listens again on the same port. It also keeps what the server answered, so a
 * test can see what the worker was told. With `bytesPerSecond`, what comes back flows no
 * faster than that on each connection (a slow link), so that a transfer lasts a while.
 */
export class TcpProxy {
  private listener: Server | null = null;
  private readonly connections = new Set<{ client: Socket; upstream: Socket; live: boolean }>();
  port = 0;
  /** Everything the server sent back through the proxy, as latin1 text. */
  answers = '';
  /** Connections accepted so far. */
  accepted = 0;

  constructor(private readonly targetPort: number, private readonly options: { bytesPerSecond?: number } = {}) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async restore(): Promise<void> {
    const listener = createServer((client) => {
      this.accepted++;
      const upstream = connect(this.targetPort, '127.0.0.1');
      const connection = { client, upstream, live: true };
      this.connections.add(connection);
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.connections.delete(connection);
      };
      for (const socket of [client, upstream]) {
        socket.on('error', end);
        socket.on('close', end);
      }
      client.on('data', (data: Buffer) => {
        if (connection.live) upstream.write(data);
      });
      upstream.on('data', (data: Buffer) => {
        if (!connection.live) return;
        this.answers += data.toString('latin1');
        client.write(data);
        const rate = this.options.bytesPerSecond;
        if (rate) {
          upstream.pause();
          setTimeout(() => upstream.resume(), (data.length / rate) * 1000);
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (listener.address() as AddressInfo).port;
    this.listener = listener;
  }

  async freeze(): Promise<void> {
    for (const connection of this.connections) connection.live = false;
    await this.stopListening();
  }

  async cut(): Promise<void> {
    for (const { client, upstream } of this.connections) {
      client.destroy();
      upstream.destroy();
    }
    this.connections.clear();
    await this.stopListening();
  }

  /** Stops accepting at once; close()'s callback would wait for the frozen connections to end. */
  private async stopListening(): Promise<void> {
    this.listener?.close();
    this.listener = null;
  }
}
