// Types for serve-web.mjs (plain JS so that npm start needs no TypeScript step).
import type { Server } from 'node:http';
export function serveStatic(dir: string, port?: number): Promise<{ server: Server; url: string }>;
