#!/usr/bin/env node
// Node >= 22.1: cache V8's compiled code of every module loaded (ours, zod, imapflow, ...) in
// the OS temp folder (or $NODE_COMPILE_CACHE), so a cron run every minute skips most of the
// parsing and compiling. Absent on Node 20 (no-op); NODE_DISABLE_COMPILE_CACHE=1 turns it off.
import module from 'node:module';

try {
  module.enableCompileCache?.();
} catch {
  // A cache that cannot be set up only costs speed.
}
await import('../dist/bin/main.js');
