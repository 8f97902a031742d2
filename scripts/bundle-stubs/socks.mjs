// In the bundle, instead of socks: imapflow uses it only for its own `proxy` option, which
// mailpoll does not use: mailpoll's `proxy:` opens the tunnel itself (src/mailbox/proxy-tunnel.ts)
// and hands the socket to imapflow through its `transport` option. ~180 KB (socks, ip-address,
// smart-buffer) less to load on every IMAP run.
export const SocksClient = {
  createConnection() {
    throw new Error('mailpoll bundle: socks is not included; a proxy needs it (scripts/bundle.mjs)');
  },
};
