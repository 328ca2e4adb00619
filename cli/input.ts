// What a command reads besides its arguments: standard input, and the JSON of a `--file`.
import { isUtf8 } from 'node:buffer';
import { readFile } from 'node:fs/promises';

async function stdinBytes(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function readStdin(): Promise<string> {
  return (await stdinBytes()).toString('utf8');
}

/**
 * The JSON of `--file FILE` (`-`: standard input): an object, or an array. A file that cannot
 * be read, is not JSON, or holds another value (`null`, a number) is said to be, by its name;
 * what the object holds is the server's to check.
 */
export async function readJsonFile<T extends object>(file: string): Promise<T> {
  let bytes: Buffer;
  try {
    bytes = file === '-' ? await stdinBytes() : await readFile(file);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new Error(`--file ${file}: cannot read it (${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : message})`);
  }
  const named = file === '-' ? '- (standard input)' : file;
  // Decoded, a byte that is not UTF-8 would become U+FFFD and a task would run another command than the one written.
  if (!isUtf8(bytes)) throw new Error(`--file ${named}: not UTF-8: save it as UTF-8`);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new Error(`--file ${named}: not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null) throw new Error(`--file ${named}: holds ${JSON.stringify(value)}, not a JSON object`);
  return value as T;
}
