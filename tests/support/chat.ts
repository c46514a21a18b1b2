// Shared fixtures for the HTTP tests of the AI proxy and its quotas (chat, admission, BYOK, usage routes):
// the fixed instants, the service environment pointed at the fake upstream, and direct reads and writes of
// the quota tables at the service clock.
import { expect } from "bun:test";
import { sqlDate } from "../../src/adapters/db/_support.ts";
import { windowStart, type QuotaWindow } from "../../src/domain/quota/mod.ts";
import type { TestService } from "./app.ts";
import type { FakeUpstream } from "./fake_upstream.ts";

/** A fixed instant well inside its minute (30 s left), hour and month. */
export const T0 = new Date("2026-03-15T12:00:30.000Z");
/** The start of the month after T0's, as the contract's reset_time writes it. */
export const NEXT_MONTH = "2026-04-01T00:00:00.000Z";
/** The start of the minute after T0's, as the contract's reset_time writes it. */
export const NEXT_MINUTE = "2026-03-15T12:01:00.000Z";
/** The start of the hour after T0's, as the contract's reset_time writes it. */
export const NEXT_HOUR = "2026-03-15T13:00:00.000Z";
/** The smallest valid chat conversation: one user message. */
export const HELLO = [{ role: "user", content: "Hello?" }];

/** The service environment with every provider pointed at the fake upstream, no retries and a short timeout. */
export function envFor(up: FakeUpstream, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    OPENAI_BASE_URL: up.openaiBaseUrl,
    OPENAI_API_KEY: "sk-test-vendor-1234",
    ANTHROPIC_BASE_URL: up.anthropicBaseUrl,
    ANTHROPIC_API_KEY: "sk-ant-vendor-5678",
    DEEPSEEK_BASE_URL: up.openaiBaseUrl,
    DEEPSEEK_API_KEY: "sk-ds-9999",
    PROVIDER_TIMEOUT_MS: "1000",
    PROVIDER_MAX_RETRIES: "0",
    ...overrides,
  };
}

/** The JSON body of a response, after checking that it is declared as JSON. */
export async function jsonOf(res: Response): Promise<any> {
  expect(res.headers.get("content-type") ?? "").toContain("application/json");
  return res.json();
}

/** The raw database connection of a test service. */
export function conn(svc: TestService) {
  return svc.services.db.orm.em.getConnection();
}

/** Sets a license's counter of one window (at the service clock) as if those calls had been settled. */
export async function setCounter(svc: TestService, licenseId: number, period: QuotaWindow, values: { requests?: number; tokens?: number; costEur?: number }) {
  const start = sqlDate(svc.services.db, windowStart(period, svc.clock.now()));
  await conn(svc).execute("delete from quota_counters where license_id = ? and period = ? and period_start = ?", [licenseId, period, start], "run");
  await conn(svc).execute(
    "insert into quota_counters (license_id, period, period_start, requests, tokens, cost_eur, updated_at) values (?, ?, ?, ?, ?, ?, ?)",
    [licenseId, period, start, values.requests ?? 0, values.tokens ?? 0, values.costEur ?? 0, sqlDate(svc.services.db, svc.clock.now())],
    "run",
  );
}

/** The license's counter of one window at the service clock (zeros when there is no row). */
export async function counter(svc: TestService, licenseId: number, period: QuotaWindow = "month") {
  const rows = (await conn(svc).execute(
    "select requests, tokens, cost_eur from quota_counters where license_id = ? and period = ? and period_start = ?",
    [licenseId, period, sqlDate(svc.services.db, windowStart(period, svc.clock.now()))],
  )) as Array<Record<string, unknown>>;
  const row = rows[0];
  if (!row) return { requests: 0, tokens: 0, costEur: 0 };
  return { requests: Number(row.requests), tokens: Number(row.tokens), costEur: Math.round(Number(row.cost_eur) * 1e6) / 1e6 };
}

/** How many quota reservations the license holds right now. */
export async function reservationsOf(svc: TestService, licenseId: number): Promise<number> {
  const rows = (await conn(svc).execute("select count(*) as n from quota_reservations where license_id = ?", [licenseId])) as Array<{ n: unknown }>;
  return Number(rows[0]!.n);
}
