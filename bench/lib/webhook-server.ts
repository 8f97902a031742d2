/**
 * The endpoint of the webhook cases: a plain HTTP server on 127.0.0.1 in the bench's own
 * process that reads each request's body and answers 204 No Content (the account's `after`).
 * It does the least an endpoint can, so that the case measures mailpoll's side.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WebhookServer {
  url: string;
  /** Requests answered since the start. */
  requests(): number;
  close(): Promise<void>;
}

export async function startWebhookServer(): Promise<WebhookServer> {
  let answered = 0;
  const server: Server = createServer((request, response) => {
    request.resume();
    request.once('end', () => {
      answered += 1;
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mail`,
    requests: () => answered,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
