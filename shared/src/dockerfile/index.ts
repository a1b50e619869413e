// Public API of the Dockerfile front end.
export type {
  DockerfileAST,
  HealthcheckInstruction,
  Instruction,
  InstructionName,
  KeyValueInstruction,
  KeyValuePair,
  OnbuildInstruction,
  ParseWarning,
  ParserDirective,
  SimpleInstruction,
} from './ast.js';
export { INSTRUCTION_NAMES } from './ast.js';
export { DockerfileSyntaxError, ShellExpansionError } from './errors.js';
export { parseDockerfile, type ParseOptions } from './parser.js';
export { dumpDockerfile, dumpInstruction, goQuote } from './dump.js';
export { processWord, processWords, type ShellEnv, type ShellWordOptions } from './shell-words.js';
