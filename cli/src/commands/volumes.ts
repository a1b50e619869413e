// strata volume create|ls|inspect|rm (docker volume).
import { UsageError } from '../../../shared/src/errors.js';
import { newId } from '../../../shared/src/ids.js';
import type { Command } from '../context.js';
import { bool, str } from '../flags.js';
import { renderTemplate } from '../template.js';
import { table } from '../format.js';

export const volumeCommand: Command = {
  name: 'volume',
  usage: 'volume COMMAND',
  description:
    'Manage volumes\n\nCommands:\n  create      Create a volume\n  inspect     Display detailed information on one or more volumes\n  ls          List volumes\n  rm          Remove one or more volumes',
  flags: [
    { name: 'quiet', short: 'q', type: 'bool', help: 'ls: only display volume names' },
    { name: 'force', short: 'f', type: 'bool', help: 'rm: force the removal of one or more volumes' },
    { name: 'format', type: 'string', help: 'inspect: format output using a Go template' },
  ],
  async run(ctx, p) {
    const [sub, ...names] = p.args;
    const engine = await ctx.engine();
    const vols = engine.store.volumes;
    switch (sub) {
      case 'create': {
        const v = vols.create(names[0] ?? newId());
        ctx.out(`${v.Name}\n`);
        return 0;
      }
      case 'ls':
      case 'list': {
        const all = vols.list();
        if (bool(p, 'quiet')) ctx.out(all.map((v) => `${v.Name}\n`).join(''));
        else
          ctx.out(
            table(
              ['DRIVER', 'VOLUME NAME'],
              all.map((v) => [v.Driver, v.Name]),
            ),
          );
        return 0;
      }
      case 'inspect': {
        if (names.length === 0) throw new UsageError(`"strata volume inspect" requires at least 1 argument.`);
        const found = names.map((n) => vols.find(n));
        const format = str(p, 'format');
        ctx.out(
          format !== null
            ? found.map((v) => renderTemplate(format, v) + '\n').join('')
            : JSON.stringify(found, null, 4) + '\n',
        );
        return 0;
      }
      case 'rm':
      case 'remove': {
        if (names.length === 0) throw new UsageError(`"strata volume rm" requires at least 1 argument.`);
        for (const n of names) {
          vols.remove(n, engine.volumeUsers(n), bool(p, 'force'));
          ctx.out(`${n}\n`);
        }
        return 0;
      }
      default:
        throw new UsageError(`strata volume: unknown command '${sub ?? ''}'\nSee 'strata volume --help'.`);
    }
  },
};
