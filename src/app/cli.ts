// Command-line interface over the same services as the HTTP API: licenses, customers, admins, key rotation.
import { parseArgs } from "node:util";
import { hashPassword } from "../adapters/crypto/passwords.ts";
import { CLI_ACTOR, createApiToken, MIN_ADMIN_PASSWORD_LENGTH, revokeApiToken } from "../domain/admin/mod.ts";
import { normalizeEmail } from "../domain/customers/mod.ts";
import { rotateSecrets } from "../domain/encryption/mod.ts";
import {
  changeLicenseStatus,
  effectiveStatus,
  issueLicense,
  LICENSE_STATUSES,
  licenseKeyDigest,
  parseLicenseKey,
  type License,
  type LicenseStatus,
} from "../domain/licensing/mod.ts";
import { DomainError } from "../domain/shared/mod.ts";
import type { Services } from "./services.ts";
import { isDatabaseUnavailable } from "../adapters/db/availability.ts";

/** Where the CLI writes: results to `out`, progress and errors to `err`. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

/** Exit code for bad arguments (usage errors), as the convention of command-line tools has it. */
export const EXIT_USAGE = 2;

/** The usage text printed by `help` and on bad arguments. */
export const USAGE = `Usage: npm run --silent cli -- <command> [options]

Commands:
  serve                                   start the HTTP service (what \`npm start\` runs)
  license create --email E --plan NAME [--months N | --lifetime] [--domain D]
                                          issue a license; prints {"license_key","customer_id","expires_at"}
  license list [--status S] [--plan NAME] [--search TEXT] [--limit N] [--offset N] [--json]
  license show KEY                        details of one license (JSON)
  license suspend KEY | license reactivate KEY | license cancel KEY
  customer list [--search TEXT] [--limit N] [--offset N] [--json]
  admin create --email E --password P [--name NAME]
  token create --name N --scope read|write  create an admin API token (shown once)
  token list | token revoke ID
  keys rotate                             re-encrypt every stored secret under ENCRYPTION_KEY
                                          (the previous key goes in ENCRYPTION_KEY_OLD)
  help                                    this text

Exit codes: 0 success, 1 failure, 2 bad arguments.`;

class UsageError extends Error {}

type Values = Record<string, string | boolean | undefined>;

function parse(args: string[], options: Record<string, { type: "string" | "boolean" }>): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as Values, positionals };
  } catch (error) {
    throw new UsageError((error as Error).message.split("\n")[0]);
  }
}

function intOption(values: Values, name: string, fallback: number, max = 1000): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new UsageError(`--${name} must be an integer between 0 and ${max}`);
  return n;
}

function required(values: Values, name: string): string {
  const v = values[name];
  if (typeof v !== "string" || v.trim() === "") throw new UsageError(`--${name} is required`);
  return v;
}

function keyArgument(positionals: string[]): string {
  if (positionals.length !== 1) throw new UsageError("exactly one license key is required");
  const key = parseLicenseKey(positionals[0]);
  if (!key) throw new UsageError("that is not a license key (CHA- followed by four groups of 8 hex digits)");
  return key;
}

function table(rows: Array<Record<string, unknown>>, io: CliIo): void {
  if (rows.length === 0) return io.out("(none)");
  const columns = Object.keys(rows[0]);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? "").length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd();
  io.out(line(columns));
  for (const row of rows) io.out(line(columns.map((c) => String(row[c] ?? ""))));
}

async function licenseSummary(services: Services, license: License) {
  const [plan, customer, sites] = await Promise.all([
    services.plans.byId(license.planId),
    services.customers.byId(license.customerId),
    services.sites.activeFor(license.id),
  ]);
  return {
    id: license.id,
    key_prefix: license.keyPrefix,
    status: effectiveStatus(license, services.clock.now()),
    stored_status: license.status,
    plan: plan?.name ?? null,
    customer_id: license.customerId,
    customer_email: customer?.email ?? null,
    domain: license.domain,
    expires_at: license.expiresAt?.toISOString() ?? null,
    activated_at: license.activatedAt?.toISOString() ?? null,
    last_validated_at: license.lastValidatedAt?.toISOString() ?? null,
    created_at: license.createdAt.toISOString(),
    sites: sites.map((s) => ({ host: s.host, exempt: s.exempt, activated_at: s.activatedAt.toISOString() })),
  };
}

async function licenseCommand(services: Services, args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "create": {
      const { values, positionals } = parse(rest, {
        email: { type: "string" },
        plan: { type: "string" },
        months: { type: "string" },
        lifetime: { type: "boolean" },
        domain: { type: "string" },
      });
      if (positionals.length) throw new UsageError(`unexpected argument: ${positionals[0]}`);
      const email = required(values, "email");
      if (!normalizeEmail(email)) throw new UsageError("--email is not a valid e-mail address");
      if (values.months !== undefined && values.lifetime) throw new UsageError("give either --months or --lifetime, not both");
      let term: { months: number } | { lifetime: true } | undefined;
      if (values.lifetime) term = { lifetime: true };
      if (values.months !== undefined) {
        const months = Number(values.months);
        if (!Number.isInteger(months) || months < 1 || months > 120) throw new UsageError("--months must be an integer between 1 and 120");
        term = { months };
      }
      const issued = await issueLicense(services, {
        email,
        planName: required(values, "plan"),
        term,
        domain: typeof values.domain === "string" ? values.domain : null,
        actor: CLI_ACTOR,
      });
      io.out(
        JSON.stringify({
          license_key: issued.licenseKey,
          customer_id: issued.customer.id,
          expires_at: issued.license.expiresAt?.toISOString() ?? null,
        }),
      );
      return 0;
    }
    case "list": {
      const { values, positionals } = parse(rest, {
        status: { type: "string" },
        plan: { type: "string" },
        search: { type: "string" },
        limit: { type: "string" },
        offset: { type: "string" },
        json: { type: "boolean" },
      });
      if (positionals.length) throw new UsageError(`unexpected argument: ${positionals[0]}`);
      const status = values.status as LicenseStatus | undefined;
      if (status && !LICENSE_STATUSES.includes(status)) throw new UsageError(`--status must be one of ${LICENSE_STATUSES.join(", ")}`);
      let planId: number | undefined;
      if (typeof values.plan === "string") {
        const plan = await services.plans.byName(values.plan);
        if (!plan) throw new UsageError(`unknown plan: ${values.plan}`);
        planId = plan.id;
      }
      const page = await services.licenses.list({
        offset: intOption(values, "offset", 0, 1_000_000),
        limit: intOption(values, "limit", 50),
        status,
        planId,
        search: typeof values.search === "string" ? values.search : undefined,
      });
      const plans = new Map((await services.plans.list()).map((p) => [p.id, p.name]));
      const rows = page.items.map((l) => ({
        id: l.id,
        key_prefix: l.keyPrefix,
        status: effectiveStatus(l, services.clock.now()),
        plan: plans.get(l.planId) ?? l.planId,
        customer_id: l.customerId,
        domain: l.domain ?? "",
        expires_at: l.expiresAt?.toISOString() ?? "never",
      }));
      if (values.json) io.out(JSON.stringify({ total: page.total, items: rows }));
      else {
        table(rows, io);
        io.out(`${page.items.length} of ${page.total} licenses`);
      }
      return 0;
    }
    case "show": {
      const { positionals } = parse(rest, {});
      const key = keyArgument(positionals);
      const license = await services.licenses.byDigest(await licenseKeyDigest(key));
      if (!license) throw new DomainError("not_found", "No license with that key");
      io.out(JSON.stringify({ license_key: key, ...(await licenseSummary(services, license)) }, null, 2));
      return 0;
    }
    case "suspend":
    case "reactivate":
    case "cancel": {
      const { positionals } = parse(rest, {});
      const key = keyArgument(positionals);
      const license = await changeLicenseStatus(services, { key, action: sub, actor: CLI_ACTOR });
      io.out(JSON.stringify({ key_prefix: license.keyPrefix, status: license.status }));
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown license command: ${sub}` : "missing license command");
  }
}

async function customerCommand(services: Services, args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "list") throw new UsageError(sub ? `unknown customer command: ${sub}` : "missing customer command");
  const { values, positionals } = parse(rest, {
    search: { type: "string" },
    limit: { type: "string" },
    offset: { type: "string" },
    json: { type: "boolean" },
  });
  if (positionals.length) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  const page = await services.customers.list({
    offset: intOption(values, "offset", 0, 1_000_000),
    limit: intOption(values, "limit", 50),
    search: typeof values.search === "string" ? values.search : undefined,
  });
  const rows = page.items.map((c) => ({
    id: c.id,
    email: c.email,
    name: c.name,
    company: c.company ?? "",
    status: c.status,
    created_at: c.createdAt.toISOString(),
  }));
  if (values.json) io.out(JSON.stringify({ total: page.total, items: rows }));
  else {
    table(rows, io);
    io.out(`${page.items.length} of ${page.total} customers`);
  }
  return 0;
}

async function adminCommand(services: Services, args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "create") throw new UsageError(sub ? `unknown admin command: ${sub}` : "missing admin command");
  const { values, positionals } = parse(rest, { email: { type: "string" }, password: { type: "string" }, name: { type: "string" } });
  if (positionals.length) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  const email = normalizeEmail(required(values, "email"));
  if (!email) throw new UsageError("--email is not a valid e-mail address");
  const password = required(values, "password");
  if (password.length < MIN_ADMIN_PASSWORD_LENGTH) throw new UsageError(`--password must have at least ${MIN_ADMIN_PASSWORD_LENGTH} characters`);
  if (await services.admins.byEmail(email)) throw new DomainError("conflict", `An admin with e-mail ${email} already exists`);
  const now = services.clock.now();
  const name = typeof values.name === "string" && values.name.trim() ? values.name.trim() : email.split("@")[0];
  const admin = await services.admins.create({ email, name, passwordHash: await hashPassword(password) }, now);
  await services.audit.record({ actor: CLI_ACTOR, action: "admin.created", targetType: "admin", targetId: admin.id, details: { email } }, now);
  io.out(JSON.stringify({ id: admin.id, email: admin.email, name: admin.name }));
  return 0;
}

async function keysCommand(services: Services, args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "rotate") throw new UsageError(sub ? `unknown keys command: ${sub}` : "missing keys command");
  const { positionals } = parse(rest, {});
  if (positionals.length) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  let lastShown = -1;
  const result = await rotateSecrets(
    { keyring: services.keyring, stores: services.secretStores },
    {
      onProgress(done, total) {
        const percent = total ? Math.floor((done / total) * 100) : 100;
        if (percent !== lastShown && (percent % 10 === 0 || done === total)) {
          lastShown = percent;
          io.err(`re-encrypting secrets: ${done}/${total} (${percent}%)`);
        }
      },
    },
  );
  io.out(JSON.stringify({ key_id: services.keyring.currentKeyId, ...result }));
  return 0;
}

async function tokenCommand(services: Services, args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "create") {
    const { values, positionals } = parse(rest, { name: { type: "string" }, scope: { type: "string" } });
    if (positionals.length) throw new UsageError(`unexpected argument: ${positionals[0]}`);
    const scope = required(values, "scope");
    if (scope !== "read" && scope !== "write") throw new UsageError("--scope must be read or write");
    const { token, info } = await createApiToken(
      { tokens: services.tokens, random: services.random, clock: services.clock, audit: services.audit },
      { name: required(values, "name"), scope, actor: CLI_ACTOR, createdBy: null },
    );
    io.out(JSON.stringify({ token, id: info.id, name: info.name, scope: info.scope, prefix: info.prefix }));
    io.err("Store this token now: it is shown only once.");
    return 0;
  }
  if (sub === "list") {
    const { positionals } = parse(rest, { json: { type: "boolean" } });
    if (positionals.length) throw new UsageError(`unexpected argument: ${positionals[0]}`);
    const rows = (await services.tokens.list()).map((t) => ({
      id: t.id,
      name: t.name,
      prefix: t.prefix,
      scope: t.scope,
      created_at: t.createdAt.toISOString(),
      last_used_at: t.lastUsedAt?.toISOString() ?? "",
      revoked_at: t.revokedAt?.toISOString() ?? "",
    }));
    table(rows, io);
    return 0;
  }
  if (sub === "revoke") {
    const { positionals } = parse(rest, {});
    const id = Number(positionals[0]);
    if (positionals.length !== 1 || !Number.isInteger(id) || id < 1) throw new UsageError("token revoke needs one token id");
    await revokeApiToken({ tokens: services.tokens, clock: services.clock, audit: services.audit }, { id, actor: CLI_ACTOR });
    io.out(JSON.stringify({ id, revoked: true }));
    return 0;
  }
  throw new UsageError(sub ? `unknown token command: ${sub}` : "missing token command");
}

/** Names of the command groups that need the database (everything except help). */
export function isCliCommand(name: string | undefined): boolean {
  return name === "license" || name === "customer" || name === "admin" || name === "keys" || name === "token" || name === "migrate";
}

/** Runs one CLI command and returns its exit code; never throws. */
export async function runCli(args: string[], openServices: () => Promise<Services>, io: CliIo): Promise<number> {
  const [group, ...rest] = args;
  if (!group || group === "help" || group === "--help" || group === "-h") {
    (group ? io.out : io.err)(USAGE);
    return group ? 0 : EXIT_USAGE;
  }
  if (!isCliCommand(group)) {
    io.err(`error: unknown command: ${group}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  let services: Services | null = null;
  try {
    services = await openServices();
    if (group === "license") return await licenseCommand(services, rest, io);
    if (group === "customer") return await customerCommand(services, rest, io);
    if (group === "admin") return await adminCommand(services, rest, io);
    if (group === "token") return await tokenCommand(services, rest, io);
    if (group === "migrate") {
      // Opening the services already applied every pending migration and seeded the plans.
      if (rest.length) throw new UsageError(`unexpected argument: ${rest[0]}`);
      const applied = await services.db.orm.migrator.getExecuted();
      io.out(JSON.stringify({ migrated: true, migrations: applied.map((m) => m.name) }));
      return 0;
    }
    return await keysCommand(services, rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`error: ${error.message}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    if (error instanceof DomainError) {
      io.err(`error: ${error.message}`);
      return 1;
    }
    if (isDatabaseUnavailable(error)) {
      // A locked, read-only or full database, or a MariaDB server gone: one line, nothing was half-written.
      io.err(`error: the database cannot be written or reached right now (${(error as Error).message.split("\n")[0]})`);
      return 1;
    }
    throw error;
  } finally {
    await services?.close();
  }
}
