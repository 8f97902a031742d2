// In the bundle, instead of socks: imapflow uses it only for its `proxy` option, which
// mailpoll does not offer. ~180 KB (socks, ip-address, smart-buffer) less to load on every
// IMAP run. If a proxy option is added, remove this stub (scripts/bundle.mjs).
export const SocksClient = {
  createConnection() {
    throw new Error('mailpoll bundle: socks is not included; a proxy needs it (scripts/bundle.mjs)');
  },
};
