/**
 * What node's parseArgs needs around it in an operator CLI (replay, make-sample, dlq): its own messages are written
 * for programmers (`Option '--speed' argument is ambiguous. Did you forget ...`, and an unbalanced quote in
 * `as in '-- "--bogus"`). Importable without side effects.
 */

/** The shape of parseArgs' `options` these helpers read. */
type OptionSpecs = Readonly<Record<string, { readonly type: 'string' | 'boolean' }>>;

const NEGATIVE_NUMBER_RE = /^-(\d|\.\d)/;

/**
 * argv with `--name -3` written as `--name=-3` for every option that takes a value. parseArgs refuses a value that
 * starts with a dash ("argument is ambiguous"); joined, a negative number reaches the option's own check, whose
 * message says what the option must be. Only numbers are joined: in `--speed --dry-run` the flag stays a flag.
 * Nothing after `--` is touched (those are positionals).
 */
export function joinNegativeValues(argv: readonly string[], options: OptionSpecs): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return [...out, ...argv.slice(i)];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    const next = argv[i + 1];
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && NEGATIVE_NUMBER_RE.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/**
 * One clear line for an error thrown by parseArgs, naming the option. `positional` names what a bare argument is
 * (e.g. "file"): the unknown-option message then says how to pass one that starts with a dash.
 */
export function parseArgsProblem(err: unknown, positional?: string): string {
  const e = err as { code?: string; message?: string } | undefined;
  const message = e?.message ?? String(err);
  const option = /option '(-[^' ]+)/i.exec(message)?.[1];
  switch (e?.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option ?? message}${positional ? ` (a ${positional} whose name starts with "-" goes after "--", as in: -- ${option ?? '-name'})` : ''}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(message)) return `${option} takes no value`;
      if (/ambiguous/.test(message)) return `${option} needs a value, but the next argument is an option (a value starting with "-" is written ${option}=<value>)`;
      return `${option} needs a value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']+)'/.exec(message)?.[1] ?? message}`;
    default:
      return message;
  }
}
