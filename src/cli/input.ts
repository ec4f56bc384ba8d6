/** Where a run's input comes from: an argument, a file, or piped standard input. */
import { readFileSync } from 'node:fs';
import { BadInputError } from './exit-codes';

/** Read all of standard input (used when it is piped, not a terminal). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The run's input: the positional argument, else `--input-file`, else piped stdin.
 * Giving two of them is refused, so nothing is silently dropped.
 */
export async function resolveInput(arg: string | undefined, file: string | undefined): Promise<string> {
  if (arg !== undefined && file !== undefined)
    throw new BadInputError('give the input either as an argument or with --input-file, not both');
  if (arg !== undefined) return arg;
  if (file !== undefined) {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new BadInputError(
        `cannot read --input-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  }
  if (!process.stdin.isTTY) return readStdin();
  return '';
}
