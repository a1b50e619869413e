export {
  GuestMachine,
  GuestError,
  GuestImageMissingError,
  GuestTimeoutError,
  GuestDeadError,
  CANCEL_GRACE_MS,
  GUEST_HOST_MOUNT,
  DEFAULT_TIMEOUT_MS,
  guestCacheDir,
  guestImagePaths,
  type GuestImagePaths,
  type RunOptions,
  type RunResult,
  type RunBytesResult,
} from './guest.ts';
export {
  encodePayload,
  decodePayload,
  requestLine,
  requestPayload,
  shellQuote,
  FrameParser,
  CANCEL,
  INLINE_SCRIPT_MAX,
  type AgentEvent,
} from './protocol.ts';
export { EmuBackend, type EmuBackendOptions } from './backend.ts';
export { liveEmulators } from './v86-host.ts';
