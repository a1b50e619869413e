/** A Dockerfile that cannot be parsed. `message` is `<file>:<line>: <reason>`. */
export class DockerfileSyntaxError extends Error {
  override readonly name = 'DockerfileSyntaxError';
  /** 1-based line the error is reported on (the first line of the offending instruction). */
  readonly line: number;
  /** The message without the `<file>:<line>: ` prefix. */
  readonly reason: string;
  readonly file: string;

  constructor(reason: string, line: number, file = 'Dockerfile') {
    super(`${file}:${line}: ${reason}`);
    this.line = line;
    this.reason = reason;
    this.file = file;
  }
}

/** Word expansion failed (unterminated quote, bad substitution, `${VAR:?msg}` on an unset VAR...). */
export class ShellExpansionError extends Error {
  override readonly name = 'ShellExpansionError';
  /** The word being expanded. */
  readonly word: string;

  constructor(message: string, word: string) {
    super(message);
    this.word = word;
  }
}
