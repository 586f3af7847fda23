// A TCP relay from 127.0.0.1:port to a target, for storage outages on demand: close() refuses new
// connections and cuts the open ones; open() serves again.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class Relay {
  private srv: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly port: number,
    private readonly target: URL,
  ) {}

  /** The relay's address as an S3 endpoint. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async open(): Promise<void> {
    this.srv = createServer((down) => {
      const up = createConnection(Number(this.target.port), this.target.hostname);
      for (const s of [down, up]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          for (const x of [down, up]) x.destroy();
        });
      }
      down.pipe(up).pipe(down);
    });
    await new Promise<void>((resolve) => this.srv!.listen(this.port, '127.0.0.1', resolve));
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.srv?.close(() => resolve()) ?? resolve());
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
