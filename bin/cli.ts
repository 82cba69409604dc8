/**
 * robustok — the command line. Each command lives in cli/commands/; this file only wires them.
 *   npx tsx bin/cli.ts --help
 */
import { Command } from 'commander';
import { PipelineError } from '../core/errors';
import { demoCommand } from '../cli/commands/demo';
import { provisionCommand, serverStartCommand } from '../cli/commands/server';

const program = new Command('robustok').description('Declarative, resumable, sweepable RobusTok pipelines on Temporal + MinIO');

const exit = (p: Promise<number>) => p.then((code) => process.exit(code));

program
  .command('demo')
  .description('round-trip an artifact through a Temporal workflow and the artifact store')
  .option('--json', 'print the result as JSON')
  .option('--address <host:port>', 'Temporal frontend (default: $TEMPORAL_ADDRESS, else start a local dev server)')
  .option('--namespace <ns>', 'Temporal namespace (default: $TEMPORAL_NAMESPACE or "default")')
  .option('--store <uri>', 'artifact store: file:///dir or s3://bucket/prefix (default: $ROBUSTOK_STORE or ./.robustok/store)')
  .action((o: { json?: boolean; address?: string; namespace?: string; store?: string }) => exit(demoCommand(o)));

const server = program.command('server').description('local Temporal dev server and MinIO');
server.command('provision').description('find or build the temporal and minio binaries; print version and source').action(() => exit(provisionCommand()));
server.command('start').description('start both servers in the foreground and print their addresses').action(() => exit(serverStartCommand()));

program.parseAsync().catch((e: unknown) => {
  if (e instanceof PipelineError) console.error(`error [${e.code}]: ${e.message}`);
  else console.error(e);
  process.exit(1);
});
