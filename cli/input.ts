// What a command reads besides its arguments: standard input, and the JSON of a `--file`.
import { readFile } from 'node:fs/promises';

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The JSON of `--file FILE` (`-`: standard input). A file that cannot be read, or is not JSON, is said to be, by its name. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new Error(`--file ${file}: cannot read it (${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : message})`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`--file ${file === '-' ? '- (standard input)' : file}: not valid JSON: ${(error as Error).message}`);
  }
}
