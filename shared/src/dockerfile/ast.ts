// The Dockerfile syntax tree produced by parser.ts. It mirrors what BuildKit's parser keeps: one node
// per instruction, its flags, its arguments as raw (unexpanded) strings, and its source line range.

/** Instruction names the parser accepts (lowercase, as BuildKit dispatches them). */
export const INSTRUCTION_NAMES = [
  'add',
  'arg',
  'cmd',
  'copy',
  'entrypoint',
  'env',
  'expose',
  'from',
  'healthcheck',
  'label',
  'maintainer',
  'onbuild',
  'run',
  'shell',
  'stopsignal',
  'user',
  'volume',
  'workdir',
] as const;

export type InstructionName = (typeof INSTRUCTION_NAMES)[number];

/** A parser directive found at the top of the file (`# escape=...`, `# syntax=...`, `# check=...`). */
export interface ParserDirective {
  /** Lowercased directive name. */
  name: string;
  value: string;
  /** 1-based line of the directive. */
  line: number;
}

/** One `key=value` (or legacy `key value`) item of ENV or LABEL. */
export interface KeyValuePair {
  key: string;
  /** The value exactly as written: quotes and escapes are kept, nothing is expanded. */
  value: string;
  /** `equals` for `K=V ...`, `legacy` for `ENV K V` (the value is the rest of the line). */
  form: 'equals' | 'legacy';
}

interface InstructionBase {
  /** Lowercased instruction name. */
  name: InstructionName;
  /** The instruction keyword as written (`run`, `Run`, `RUN`). */
  keyword: string;
  /** Leading `--flag[=value]` words, quotes removed, in order. */
  flags: string[];
  /**
   * Arguments as BuildKit's parse tree holds them (what dump() prints). Shell form RUN/CMD/ENTRYPOINT
   * is one string; exec (JSON) form is one string per element; ENV/LABEL are flattened triples
   * (key, value, `=` or ``); ONBUILD has none (see `trigger`).
   */
  args: string[];
  /** True when the arguments came from a JSON array (exec form). */
  json: boolean;
  /** The logical line (continuations joined, comments dropped) the node was parsed from. */
  original: string;
  /** 1-based line where the instruction starts. */
  startLine: number;
  /** 1-based line where the instruction ends (last continuation line). */
  endLine: number;
  /** Comment lines directly above the instruction, without the `#`. */
  comments: string[];
}

export interface KeyValueInstruction extends InstructionBase {
  name: 'env' | 'label';
  pairs: KeyValuePair[];
}

export interface OnbuildInstruction extends InstructionBase {
  name: 'onbuild';
  /** The nested trigger instruction (it shares the ONBUILD line range). */
  trigger: Instruction;
}

export interface HealthcheckInstruction extends InstructionBase {
  name: 'healthcheck';
  /** `CMD`, `NONE`, ... as written; null for a bare `HEALTHCHECK`. */
  type: string | null;
}

export interface SimpleInstruction extends InstructionBase {
  name: Exclude<InstructionName, 'env' | 'label' | 'onbuild' | 'healthcheck'>;
}

export type Instruction =
  KeyValueInstruction | OnbuildInstruction | HealthcheckInstruction | SimpleInstruction;

export interface ParseWarning {
  line: number;
  message: string;
}

export interface DockerfileAST {
  directives: ParserDirective[];
  /** The escape character in effect (`\` unless `# escape=` changed it). */
  escapeToken: '\\' | '`';
  instructions: Instruction[];
  warnings: ParseWarning[];
}
