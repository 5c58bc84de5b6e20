/**
 * The command-line flags shared by `cli/train.ts`, `cli/tag.ts` and
 * `cli/eval.ts`: one declaration per flag (kind, range, default, help), from
 * which come the parser, the validation messages ("--x: expected …, found
 * …") and the `--help` text, so a default is written in one place.
 *
 * Exit codes of every command: 0 done, 1 bad input or a runtime error,
 * 2 a usage error, 130 interrupted.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** One flag: what it accepts, its default and its line in `--help`. */
export type FlagSpec =
  | { kind: "boolean"; help: string; short?: string }
  | { kind: "string"; help: string; arg?: string; default?: string; multiple?: boolean }
  | { kind: "enum"; help: string; values: readonly string[]; default?: string }
  | {
    kind: "int";
    help: string;
    arg?: string;
    default?: number;
    min?: number;
    max?: number;
  }
  | {
    kind: "number";
    help: string;
    arg?: string;
    default?: number;
    /** Smallest accepted value (default: any). */
    min?: number;
    /** Largest accepted value (default: any). */
    max?: number;
    /** Whether `min` itself is refused. */
    minExclusive?: boolean;
    /** Whether `max` itself is refused. */
    maxExclusive?: boolean;
  };

/** Flag declarations by name (without the leading `--`). */
export type FlagSpecs = Record<string, FlagSpec>;

/** The parsed value of one flag. */
export type FlagValue<S extends FlagSpec> = S extends { kind: "boolean" } ? boolean
  : S extends { kind: "int" | "number"; default: number } ? number
  : S extends { kind: "int" | "number" } ? number | undefined
  : S extends { kind: "string"; multiple: true } ? string[]
  : S extends { default: string } ? string
  : string | undefined;

/** The parsed values of all flags. */
export type FlagValues<S extends FlagSpecs> = { [K in keyof S]: FlagValue<S[K]> };

/** A usage error: bad flag, bad value, missing argument (exit status 2). */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Exit statuses of the commands. */
export const EXIT = { ok: 0, error: 1, usage: 2, interrupted: 130 } as const;

/**
 * Parses `args` against `specs`: unknown flags, missing values and values
 * out of range throw a {@linkcode UsageError} naming the flag, what was
 * expected and what was found.
 *
 * @param args the command-line arguments
 * @param specs the flag declarations
 * @param options whether positional arguments are allowed (default no)
 * @returns the values (defaults filled in) and the positionals
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const specs = {
 *   epochs: { kind: "int", min: 1, default: 30, help: "most epochs" },
 *   quiet: { kind: "boolean", help: "no progress bar" },
 * } as const;
 * assert.deepEqual(parseFlags(["--epochs", "3"], specs).values, { epochs: 3, quiet: false });
 * assert.throws(() => parseFlags(["--epochs", "0"], specs), /--epochs: expected an integer ≥ 1, found '0'/);
 * ```
 */
export function parseFlags<S extends FlagSpecs>(
  args: string[],
  specs: S,
  options: { positionals?: boolean } = {},
): { values: FlagValues<S>; positionals: string[] } {
  const parserOptions: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = {};
  for (const [name, spec] of Object.entries(specs)) {
    parserOptions[name] = spec.kind === "boolean"
      ? { type: "boolean", ...(spec.short ? { short: spec.short } : {}) }
      : { type: "string", ...(spec.kind === "string" && spec.multiple ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(args, specs),
      options: parserOptions,
      allowPositionals: options.positionals ?? false,
    });
  } catch (e) {
    throw new UsageError(plainParseError((e as Error).message));
  }
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    values[name] = flagValue(
      name,
      spec,
      parsed.values[name] as string | string[] | boolean | undefined,
    );
  }
  return { values: values as FlagValues<S>, positionals: parsed.positionals };
}

/** `--lr -1` as `--lr=-1`, so a negative number reaches validation as a value. */
function joinNegativeValues(args: string[], specs: FlagSpecs): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const spec = specs[args[i].replace(/^--/, "")];
    const next = args[i + 1];
    const takesValue = args[i].startsWith("--") && spec !== undefined && spec.kind !== "boolean";
    if (takesValue && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else out.push(args[i]);
  }
  return out;
}

/** node:util's messages, without the internal advice about `--` and `args`. */
function plainParseError(message: string): string {
  const unknown = message.match(/Unknown option '([^']+)'/);
  if (unknown) return `${unknown[1]}: unknown option`;
  const missing = message.match(/Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/);
  if (missing) return `${missing[1]}: expected a value, found none`;
  const positional = message.match(/Unexpected argument '([^']+)'/);
  if (positional) return `'${positional[1]}': this command takes no positional arguments`;
  return message.split(". ")[0];
}

function flagValue(
  name: string,
  spec: FlagSpec,
  raw: string | string[] | boolean | undefined,
): unknown {
  if (spec.kind === "boolean") return raw === true;
  if (spec.kind === "string") return spec.multiple ? (raw ?? []) : (raw ?? spec.default);
  if (raw === undefined) return spec.default;
  const text = raw as string;
  if (spec.kind === "enum") {
    const value = text.toLowerCase();
    if (!spec.values.includes(value)) {
      throw new UsageError(`--${name}: expected ${orList(spec.values)}, found '${text}'`);
    }
    return value;
  }
  const n = text.trim() === "" ? NaN : Number(text);
  if (spec.kind === "int") {
    const ok = Number.isInteger(n) && n >= (spec.min ?? -Infinity) && n <= (spec.max ?? Infinity);
    if (!ok) {
      throw new UsageError(`--${name}: expected ${intRange(spec.min, spec.max)}, found '${text}'`);
    }
    return n;
  }
  const { min = -Infinity, max = Infinity, minExclusive = false, maxExclusive = false } = spec;
  const ok = Number.isFinite(n) && (minExclusive ? n > min : n >= min) &&
    (maxExclusive ? n < max : n <= max);
  if (!ok) throw new UsageError(`--${name}: expected ${numberRange(spec)}, found '${text}'`);
  return n;
}

function orList(values: readonly string[]): string {
  return values.length <= 1
    ? values.join("")
    : `${values.slice(0, -1).join(", ")} or ${values.at(-1)}`;
}

function intRange(min?: number, max?: number): string {
  if (min !== undefined && max !== undefined) return `an integer in [${min}, ${max}]`;
  if (min !== undefined) return `an integer ≥ ${min}`;
  if (max !== undefined) return `an integer ≤ ${max}`;
  return "an integer";
}

function numberRange(spec: Extract<FlagSpec, { kind: "number" }>): string {
  const { min, max, minExclusive, maxExclusive } = spec;
  if (min !== undefined && max !== undefined) {
    return `a number in ${minExclusive ? "(" : "["}${min}, ${max}${maxExclusive ? ")" : "]"}`;
  }
  if (min !== undefined) return `a number ${minExclusive ? ">" : "≥"} ${min}`;
  if (max !== undefined) return `a number ${maxExclusive ? "<" : "≤"} ${max}`;
  return "a number";
}

/**
 * The `--help` lines of `names` (in that order), each with its argument
 * and its default taken from the declaration.
 *
 * @param specs the flag declarations
 * @param names which flags, in order (default: all)
 * @returns aligned lines, one flag each (long help wraps onto indented lines)
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const specs = { epochs: { kind: "int", min: 1, default: 30, help: "most epochs" } } as const;
 * assert.equal(flagHelp(specs), "  --epochs N           most epochs (default 30)");
 * ```
 */
export function flagHelp(specs: FlagSpecs, names: string[] = Object.keys(specs)): string {
  return names.map((name) => {
    const spec = specs[name];
    if (!spec) throw new Error(`flagHelp: no flag --${name}`);
    let left = spec.kind === "boolean"
      ? `${spec.short ? `-${spec.short}, ` : ""}--${name}`
      : `--${name} ${
        spec.kind === "enum" ? spec.values.join("|") : spec.arg ?? argName(spec.kind)
      }`;
    left = `  ${left}`;
    const defaultValue = "default" in spec && spec.default !== undefined ? spec.default : undefined;
    const help = defaultValue !== undefined && !/\(default/.test(spec.help)
      ? `${spec.help} (default ${defaultValue})`
      : spec.help;
    const [first, ...rest] = help.split("\n");
    const pad = " ".repeat(23);
    const head = left.length < 23 ? left.padEnd(23) + first : `${left}\n${pad}${first}`;
    return [head, ...rest.map((line) => pad + line)].join("\n");
  }).join("\n");
}

function argName(kind: "string" | "int" | "number"): string {
  return kind === "string" ? "VALUE" : kind === "int" ? "N" : "X";
}

/**
 * Runs a command's `main` as a script: a {@linkcode UsageError} prints one
 * line and the pointer to `--help` (exit 2); any other error prints its
 * message alone (exit 1), never a stack trace (set `WEBGPU_NER_DEBUG=1` to
 * see one).
 *
 * @param command the command's name for messages, e.g. "cli/tag.ts"
 * @param main the command
 * @param args its arguments
 * @returns the exit status
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const status = await runCommand("cli/x.ts", () => Promise.resolve(0), []);
 * assert.equal(status, 0);
 * ```
 */
export async function runCommand(
  command: string,
  main: (args: string[]) => Promise<number>,
  args: string[],
): Promise<number> {
  try {
    return await main(args);
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    if (debugging()) console.error(error.stack);
    if (error instanceof UsageError) {
      console.error(`${command}: ${error.message}\n(run with --help for usage)`);
      return EXIT.usage;
    }
    console.error(`${command}: ${error.message}`);
    return EXIT.error;
  }
}

function debugging(): boolean {
  try {
    return Deno.env.get("WEBGPU_NER_DEBUG") === "1";
  } catch {
    return false;
  }
}
