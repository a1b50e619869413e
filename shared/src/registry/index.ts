// Registries (distribution HTTP API v2 / OCI distribution spec): push, pull, login. docs/registry.md.
export { pushImage, type PushResult, type TransferOptions } from './push.js';
export { pullImage, type PullResult } from './pull.js';
export { login, logout } from './login.js';
export { normaliseServer } from './host.js';
export { authFilePath } from './credentials.js';
