// Errors of the kernel model, named like the errno values the real kernel returns.

export type Errno =
  | 'EPERM'
  | 'ENOENT'
  | 'ESRCH'
  | 'EBADF'
  | 'EBUSY'
  | 'EEXIST'
  | 'EXDEV'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'EINVAL'
  | 'EROFS'
  | 'ENOTEMPTY'
  | 'ELOOP'
  | 'ENODATA'
  | 'ENAMETOOLONG'
  | 'ENODEV';

export class ModelError extends Error {
  readonly code: Errno;
  constructor(code: Errno, message: string) {
    super(`${code}: ${message}`);
    this.name = 'ModelError';
    this.code = code;
  }
}

export function fail(code: Errno, message: string): never {
  throw new ModelError(code, message);
}

/** Whether `err` is a ModelError, optionally with the given code. */
export function isModelError(err: unknown, code?: Errno): err is ModelError {
  return err instanceof ModelError && (code === undefined || err.code === code);
}
