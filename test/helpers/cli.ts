// Run the CLI in-process, as a user would type it, and capture what it prints.
import { runCli } from "../../src/cli/program.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
  opts: { tty?: boolean } = {},
): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, {
    stdout: { write: (s: string) => (stdout += s), isTTY: opts.tty ?? false },
    stderr: { write: (s: string) => (stderr += s), isTTY: opts.tty ?? false },
    env: { PATH: process.env.PATH, ...env },
  });
  return { code, stdout, stderr };
}

export async function cliJson<T = any>(
  argv: string[],
): Promise<{ code: number; json: T; stderr: string }> {
  const r = await cli([...argv, "--json"]);
  let json: T;
  try {
    json = JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout.slice(0, 500)} ${r.stderr}`);
  }
  return { code: r.code, json, stderr: r.stderr };
}
