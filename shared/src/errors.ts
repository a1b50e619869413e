// Errors the user sees. Exit codes follow Docker's: 125 when Strata itself fails, 126 when the
// command cannot be invoked, 127 when it cannot be found; a payload's own code passes through.

export const EXIT = { FAILURE: 125, CANNOT_INVOKE: 126, NOT_FOUND: 127 } as const;

export class StrataError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.FAILURE,
  ) {
    super(message);
    this.name = 'StrataError';
  }
}

export class NotFoundError extends StrataError {}
export class ConflictError extends StrataError {}
export class UsageError extends StrataError {}
