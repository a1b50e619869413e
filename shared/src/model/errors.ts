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

// The model throws errno errors as ordinary control flow (an overlay lookup probes every layer and
// most probes say ENOENT). Capturing a stack trace for each one dominated the model's run time, so
// ModelError captures none: the errno and message say what happened.
type ErrorCtorWithLimit = ErrorConstructor & { stackTraceLimit?: number };

export class ModelError extends Error {
  readonly code: Errno;
  constructor(code: Errno, message: string) {
    const ctor = Error as ErrorCtorWithLimit;
    const limit = ctor.stackTraceLimit;
    ctor.stackTraceLimit = 0;
    try {
      super(`${code}: ${message}`);
    } finally {
      ctor.stackTraceLimit = limit;
    }
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
