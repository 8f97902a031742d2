// First step of `npm run build`: an empty dist/, so that nothing a former build wrote (a
// source map of a debug build, a module since removed from src/) is packed or run.
import { rm } from 'node:fs/promises';

await rm(new URL('../dist/', import.meta.url), { recursive: true, force: true });
