export {
  GuestMachine,
  GuestError,
  GuestImageMissingError,
  GuestTimeoutError,
  GUEST_HOST_MOUNT,
  DEFAULT_TIMEOUT_MS,
  guestCacheDir,
  guestImagePaths,
  shellQuote,
  type GuestImagePaths,
  type RunOptions,
  type RunResult,
} from './guest.ts';
