// The build lesson's builder: the project's Dockerfile parser (shared/src/dockerfile) turns the
// editable Dockerfile into a plan, and the plan into a guest script that makes one overlay2 layer per
// RUN (an overlay of the layers so far plus a new upper dir, the command run in new namespaces with
// pivot_root, the upper dir kept as the layer), as `docker build` does without its cache.
import { shellQuote as q } from '../../backend-emu/src/protocol.ts';
import { parseDockerfile, processWord, type Instruction } from '../../shared/src/dockerfile/index.ts';
import { BASE_IMAGE, IMAGES } from './guest-runtime.ts';
import { IMAGE_LAYERS, OVERLAY2 } from './layout.ts';

export const DEMO_TAG = 'demo-app';

export const DEMO_DOCKERFILE = `FROM ${BASE_IMAGE}
ENV GREETING="hello from a Dockerfile"
RUN mkdir -p /app && echo 'echo "$GREETING: I am $(hostname), my root is $(grep " / / " /proc/self/mountinfo | cut -d" " -f9)"' > /app/hello.sh
RUN echo "built by the second RUN" > /app/build-info && rm /etc/motd
WORKDIR /app
CMD ["sh", "hello.sh"]
`;

export class BuildPlanError extends Error {
  override name = 'BuildPlanError';
}

export interface RunLayer {
  /** Directory under overlay2/. */
  id: string;
  /** Its l/ link name (26 characters, as Docker's). */
  short: string;
  /** The l/ chain it is built on, nearest first. */
  lower: string;
  command: string;
  env: string[];
  workdir: string;
}

export interface PlanStep {
  /** "Step 2/6 : ENV ..." as docker build prints it. */
  title: string;
  run: RunLayer | null;
}

export interface BuildPlan {
  tag: string;
  steps: PlanStep[];
  /** The finished image: layers (l/ chain, nearest first), environment, command, working directory. */
  lower: string;
  env: string[];
  cmd: string;
  workdir: string;
}

const SUPPORTED = 'FROM strata-demo, RUN, ENV, WORKDIR and CMD';

function joinPath(cwd: string, p: string): string {
  const parts = (p.startsWith('/') ? p : `${cwd}/${p}`).split('/');
  const out: string[] = [];
  for (const s of parts) {
    if (s === '' || s === '.') continue;
    if (s === '..') out.pop();
    else out.push(s);
  }
  return `/${out.join('/')}`;
}

function shortName(tag: string, n: number): string {
  return `BLD${n}${tag.toUpperCase().replace(/[^A-Z0-9]/g, '')}${'X'.repeat(26)}`.slice(0, 26);
}

/** The Dockerfile as a plan; a BuildPlanError names the line of anything the demo cannot build. */
export function planBuild(text: string, tag = DEMO_TAG): BuildPlan {
  let ast;
  try {
    ast = parseDockerfile(text);
  } catch (err) {
    throw new BuildPlanError(`Dockerfile: ${err instanceof Error ? err.message : String(err)}`);
  }
  const ins = ast.instructions;
  if (ins.length === 0) throw new BuildPlanError('Dockerfile: no instructions');
  const fail = (i: Instruction, why: string): never => {
    throw new BuildPlanError(`Dockerfile line ${i.startLine}: ${i.keyword.toUpperCase()}: ${why}`);
  };
  let lower = '';
  const env: string[] = [];
  let workdir = '/';
  let cmd = 'sh';
  const steps: PlanStep[] = [];
  ins.forEach((i, n) => {
    const title = `Step ${n + 1}/${ins.length} : ${i.original}`;
    if (n === 0 && i.name !== 'from') fail(i, 'the first instruction must be FROM');
    let run: RunLayer | null = null;
    switch (i.name) {
      case 'from':
        if (n > 0) fail(i, 'one stage only in the demo');
        if (i.args[0] !== BASE_IMAGE || i.args.length > 1)
          fail(i, `the demo has one base image: ${BASE_IMAGE}`);
        lower = [...IMAGE_LAYERS]
          .reverse()
          .map((l) => `l/${l.short}`)
          .join(':');
        break;
      case 'env':
        for (const p of i.pairs) {
          const value = processWord(p.value, env);
          const at = env.findIndex((e) => e.startsWith(`${p.key}=`));
          if (at >= 0) env.splice(at, 1);
          env.unshift(`${p.key}=${value}`); // first entry wins in processWord's lookup
        }
        break;
      case 'workdir':
        workdir = joinPath(workdir, processWord(i.args[0] ?? '/', env));
        break;
      case 'cmd':
        cmd = i.json ? i.args.map(q).join(' ') : (i.args[0] ?? '');
        break;
      case 'run': {
        if (i.flags.length > 0) fail(i, `flags (${i.flags.join(' ')}) are not supported by the demo`);
        const k = steps.filter((s) => s.run).length + 1;
        const short = shortName(tag, k);
        const command = i.json ? i.args.map(q).join(' ') : (i.args[0] ?? '');
        run = { id: `build-${tag}-${k}`, short, lower, command, env: [...env], workdir };
        lower = `l/${short}:${lower}`;
        break;
      }
      case 'copy':
      case 'add':
        fail(i, 'the demo builds from the Dockerfile alone, without a build context: write files with RUN');
        break;
      default:
        fail(i, `not supported by the demo builder (it knows ${SUPPORTED})`);
    }
    steps.push({ title, run });
  });
  return { tag, steps, lower, env, cmd, workdir };
}

function envWords(env: string[]): string {
  return env.map(q).join(' ');
}

/** The image's file under /var/lib/strata/images, read by ctr_run (guest-runtime.ts). */
function imageFile(p: BuildPlan): string {
  return [
    `IMG_LOWER=${q(p.lower)}`,
    `IMG_ENV=${q(envWords(p.env))}`,
    `IMG_CMD=${q(p.cmd)}`,
    `IMG_WORKDIR=${q(p.workdir)}`,
    '',
  ].join('\n');
}

/** The guest script of a build (after runtimePrelude()). */
export function buildScript(text: string, tag = DEMO_TAG): string {
  const p = planBuild(text, tag);
  const out = [
    `build_run() { # layer id, short name, lower chain, workdir, env words, command
  L=$OV/$1; umount -l $L/merged 2>/dev/null; rm -rf $L
  ovl_mount "$3" $L
  unshare -m -u -i -n -p -f sh -c "$CTR_INIT" init $L/merged buildkitsandbox "$4" /dev/null "" "$5" "$6" </dev/null
  rc=$?
  umount $L/merged; rm -rf $L/work $L/merged
  if [ $rc -ne 0 ]; then echo "The command '/bin/sh -c $6' returned a non-zero code: $rc" >&2; exit 1; fi
  echo $2 > $L/link; ln -sfn ../$1/diff $OV/l/$2
  echo " ---> new layer l/$2, its changes:"; layer_changes $L/diff | sed 's/^/      /'
}`,
  ];
  for (const s of p.steps) {
    out.push(`echo ${q(s.title)}`);
    if (s.run) {
      const r = s.run;
      out.push(
        `build_run ${r.id} ${r.short} ${q(r.lower)} ${q(r.workdir)} ${q(envWords(r.env))} ${q(r.command)}`,
      );
    }
  }
  out.push(
    `printf %s ${q(imageFile(p))} > ${IMAGES}/${tag}`,
    `echo "Successfully built ${tag}: $(echo ${q(p.lower)} | tr : '\\n' | wc -l) layers"`,
    `echo "$ ls ${OVERLAY2}/l"; ls ${OVERLAY2}/l`,
  );
  return out.join('\n');
}

/** What the model can say about a build without a shell to run RUN: the plan, layer by layer. */
export function buildPlanText(text: string, tag = DEMO_TAG): string {
  const p = planBuild(text, tag);
  const lines: string[] = [];
  for (const s of p.steps) {
    lines.push(s.title);
    if (s.run) lines.push(` ---> a new layer l/${s.run.short} on ${s.run.lower.split(':').length} layers`);
  }
  lines.push(
    `${tag}: ${p.lower.split(':').length} layers, CMD ${p.cmd}, WORKDIR ${p.workdir}`,
    '(the kernel model has no shell to run RUN: its changes come from the guest)',
  );
  return lines.join('\n');
}
