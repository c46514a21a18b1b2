// Persistence of the AI proxy: atomic quota admission, batched usage events with daily aggregates,
// the price table, and provider keys (vendor and BYOK), sealed.
import { randomBytes } from "node:crypto";
import type { ProviderKeys, StoredKeyInfo, UsableKey } from "../../domain/chat/mod.ts";
import type { Keyring } from "../../domain/encryption/mod.ts";
import type { ProviderName } from "../../domain/plans/mod.ts";
import { pickPrice, type ModelPrice, type PriceTable } from "../../domain/pricing/mod.ts";
import {
  windowStart,
  type AdmissionDecision,
  type QuotaLedger,
  type QuotaReservation,
  type QuotaSnapshot,
  type QuotaWindow,
  type WindowCount,
} from "../../domain/quota/mod.ts";
import { dayOf, roundEur, type UsageEvent, type UsageRecorder } from "../../domain/usage/mod.ts";
import { multiRowInserts, rawQuery, rawTransaction, sqlDate, SqliteGroupCommit } from "./_support.ts";
import type { Db } from "./orm.ts";
import { ModelPriceRow, ProviderKeyRow, QuotaReservationRow, UsageBatchRow } from "./schema.ts";
import { providerKeyContext } from "./secret_repos.ts";

/** One SQL statement with its parameters. */
type Statement = [sql: string, params: unknown[]];

const WINDOWS: QuotaWindow[] = ["minute", "hour", "month"];

/** The windows' use from the settled counters plus the reservations in flight (each counts in the windows it started in). */
function snapshotOf(counters: unknown[], inFlight: unknown[]): QuotaSnapshot {
  const snapshot: QuotaSnapshot = {
    minute: { requests: 0, costEur: 0 },
    hour: { requests: 0, costEur: 0 },
    month: { requests: 0, costEur: 0 },
  };
  for (const row of counters as Array<{ period: QuotaWindow; requests: unknown; cost_eur: unknown }>) {
    snapshot[row.period] = { requests: Number(row.requests), costEur: Number(row.cost_eur) };
  }
  // One row of per-window sums (SUM over no rows is NULL, read as 0).
  const flight = (inFlight[0] ?? {}) as Record<string, unknown>;
  for (const w of WINDOWS) {
    const count: WindowCount = snapshot[w];
    count.requests += Number(flight[`${w}_n`] ?? 0);
    count.costEur = roundEur(count.costEur + Number(flight[`${w}_c`] ?? 0));
  }
  return snapshot;
}

// Reservations in flight, summed per window by the database: with many calls of one license in flight, reading
// every row and its date costs more than the rest of the admission.
const IN_FLIGHT_SUMS = `select ${WINDOWS.map(
  (w) => `sum(case when created_at >= ? then 1 else 0 end) as ${w}_n, sum(case when created_at >= ? then estimate_cost_eur else 0 end) as ${w}_c`,
).join(", ")} from quota_reservations where license_id = ? and expires_at > ?`;


/**
 * Quota admission shared by every instance: a call is admitted under a lock on its license row (MariaDB
 * SELECT ... FOR UPDATE; SQLite BEGIN IMMEDIATE), counting settled calls in quota_counters plus calls in
 * flight in quota_reservations. A reservation outlives a crashed process only until `ttlMs`.
 */
export class DbQuotaLedger implements QuotaLedger {
  // On SQLite, admissions and settlements arriving together share one transaction (see SqliteGroupCommit).
  private readonly group: SqliteGroupCommit | null;

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 15 * 60 * 1000,
  ) {
    this.group = db.sqlite ? new SqliteGroupCommit(db) : null;
  }

  private readStatements(licenseId: number, now: Date): { counters: Statement; inFlight: Statement } {
    const starts = Object.fromEntries(WINDOWS.map((w) => [w, windowStart(w, now)])) as Record<QuotaWindow, Date>;
    return {
      counters: [
        `select period, requests, cost_eur from quota_counters where license_id = ? and (
         (period = 'minute' and period_start = ?) or (period = 'hour' and period_start = ?) or (period = 'month' and period_start = ?))`,
        [licenseId, sqlDate(this.db, starts.minute), sqlDate(this.db, starts.hour), sqlDate(this.db, starts.month)],
      ],
      inFlight: [IN_FLIGHT_SUMS, [...WINDOWS.flatMap((w) => [sqlDate(this.db, starts[w]), sqlDate(this.db, starts[w])]), licenseId, sqlDate(this.db, now)]],
    };
  }

  /** What the license has used in each window, calls in flight included. */
  async snapshot(licenseId: number, now: Date): Promise<QuotaSnapshot> {
    const { counters, inFlight } = this.readStatements(licenseId, now);
    return snapshotOf(await rawQuery(this.db, ...counters), await rawQuery(this.db, ...inFlight));
  }

  /** Decides and reserves in one locked transaction, so N racing calls for k remaining admit exactly k. */
  async reserve(input: {
    licenseId: number;
    now: Date;
    estimateEur: number;
    decide: (snapshot: QuotaSnapshot) => AdmissionDecision;
  }): Promise<{ decision: AdmissionDecision; reservation: QuotaReservation | null }> {
    const { counters, inFlight } = this.readStatements(input.licenseId, input.now);
    const insert: Statement = [
      "insert into quota_reservations (license_id, created_at, estimate_cost_eur, expires_at) values (?, ?, ?, ?)",
      [input.licenseId, sqlDate(this.db, input.now), roundEur(input.estimateEur), sqlDate(this.db, new Date(input.now.getTime() + this.ttlMs))],
    ];
    const reserved = (decision: AdmissionDecision, insertId: unknown) =>
      decision.allowed
        ? { decision, reservation: { id: Number(insertId), licenseId: input.licenseId, admittedAt: input.now } }
        : { decision, reservation: null };
    if (this.group) {
      return this.group.submit((run) => {
        const decision = input.decide(snapshotOf(run(...counters), run(...inFlight)));
        return reserved(decision, decision.allowed ? run(...insert, "run").insertId : null);
      });
    }
    // Plain SQL: this runs on every chat call, where the ORM's unit of work would cost more than the queries.
    return rawTransaction(
      this.db,
      async (run) => {
        const decision = input.decide(snapshotOf(await run(...counters), await run(...inFlight)));
        return reserved(decision, decision.allowed ? (await run(...insert, "run")).insertId : null);
      },
      input.licenseId,
    );
  }

  /**
   * Ends a reservation: a failed call (null) only releases it; a completed call is counted in the windows it
   * was admitted in, with its real tokens and cost.
   */
  async settle(reservation: QuotaReservation, outcome: { tokens: number; costEur: number } | null, now: Date): Promise<void> {
    // The counters move only when this call removed the reservation: a settlement retried after a commit
    // whose answer was lost (a dropped connection) then cannot count the call twice.
    const release: Statement = ["delete from quota_reservations where id = ?", [reservation.id]];
    const statements: Statement[] = [];
    if (outcome) {
      const rows = WINDOWS.map((w) => [
        reservation.licenseId,
        w,
        sqlDate(this.db, windowStart(w, reservation.admittedAt)),
        outcome.tokens,
        roundEur(outcome.costEur),
        sqlDate(this.db, now),
      ]);
      const upsert =
        this.db.dialect === "sqlite"
          ? `on conflict(license_id, period, period_start) do update set requests = quota_counters.requests + 1,
               tokens = quota_counters.tokens + excluded.tokens, cost_eur = quota_counters.cost_eur + excluded.cost_eur,
               updated_at = excluded.updated_at`
          : `on duplicate key update requests = requests + 1, tokens = tokens + values(tokens),
               cost_eur = cost_eur + values(cost_eur), updated_at = values(updated_at)`;
      statements.push([
        `insert into quota_counters (license_id, period, period_start, requests, tokens, cost_eur, updated_at) values ${rows.map(() => "(?, ?, ?, 1, ?, ?, ?)").join(", ")} ${upsert}`,
        rows.flat(),
      ]);
    }
    if (this.group) {
      await this.group.submit((run) => {
        if (run(...release, "run").affectedRows !== 1) return;
        for (const statement of statements) run(...statement, "run");
      });
      return;
    }
    // Under the license's lock, like admission: concurrent upserts creating the same counter rows would
    // otherwise deadlock on InnoDB's gap locks (rawTransaction also retries such conflicts).
    await rawTransaction(
      this.db,
      async (run) => {
        if ((await run(...release, "run")).affectedRows !== 1) return;
        for (const statement of statements) await run(...statement, "run");
      },
      reservation.licenseId,
    );
  }

  /** Deletes reservations whose process never settled them (housekeeping). */
  async sweep(now: Date): Promise<number> {
    return this.db.orm.em.fork().nativeDelete(QuotaReservationRow, { expiresAt: { $lte: now } });
  }
}

/** A batch of usage events and the id it keeps through its retries. */
export interface UsageBatch {
  id: string;
  events: UsageEvent[];
}

/** How long a written batch's id is kept: a batch is retried by the process that made it, within its life. */
export const USAGE_BATCH_ID_DAYS = 1;

/**
 * Usage events leave the request path through a queue written in batches (one transaction per batch: the
 * raw events plus the daily aggregates). `flush` on shutdown writes what is left. A failed batch is retried
 * whole, under its id, before anything newer: when only the answer to its COMMIT was lost, the retry finds
 * the id in usage_batches and writes nothing twice.
 */
export class BatchedUsageRecorder implements UsageRecorder {
  private queue: UsageEvent[] = [];
  /** The batch being written, or whose write failed (it is retried as it was before anything newer). */
  private batch: UsageBatch | null = null;
  private running: Promise<void> | null = null;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly db: Db,
    private readonly options: { intervalMs?: number; batchSize?: number; onError?: (error: unknown) => void } = {},
  ) {
    this.timer = setInterval(() => void this.flush().catch(() => {}), options.intervalMs ?? 250);
    this.timer.unref?.();
  }

  record(event: UsageEvent): void {
    this.queue.push(event);
    if (this.queue.length >= (this.options.batchSize ?? 200)) void this.flush().catch(() => {});
  }

  /** Events recorded but not yet written. */
  get pending(): number {
    return this.queue.length + (this.batch?.events.length ?? 0);
  }

  async flush(): Promise<void> {
    while (this.running) await this.running;
    if (!this.batch) {
      if (this.queue.length === 0) return;
      this.batch = { id: randomBytes(16).toString("hex"), events: this.queue.splice(0, this.options.batchSize ?? 200) };
    }
    const batch = this.batch;
    this.running = this.write(batch)
      .then(() => {
        this.batch = null;
      })
      .catch((error) => {
        this.options.onError?.(error);
        throw error;
      })
      .finally(() => {
        this.running = null;
      });
    await this.running;
    if (this.queue.length > 0) await this.flush();
  }

  /** Forgets the ids of batches written before `before` (housekeeping); answers how many. */
  async sweepBatchIds(before: Date): Promise<number> {
    return this.db.orm.em.fork().nativeDelete(UsageBatchRow, { createdAt: { $lt: before } });
  }

  /** Writes everything and stops the timer. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /** Writes `batch` in one transaction, or nothing when a batch of its id is already written. */
  async write({ id, events: batch }: UsageBatch): Promise<void> {
    const groups = new Map<string, { e: UsageEvent; day: string; n: number; errors: number; p: number; c: number; k: number; cost: number; total: number; up: number }>();
    for (const e of batch) {
      const day = dayOf(e.createdAt);
      const key = [e.licenseId, day, e.provider, e.model, e.endpoint].join("\u0000");
      const g = groups.get(key) ?? { e, day, n: 0, errors: 0, p: 0, c: 0, k: 0, cost: 0, total: 0, up: 0 };
      g.n += 1;
      // Errors are the calls that were not billed; a partial stream was billed and counts as a request.
      if (e.outcome === "error") g.errors += 1;
      g.p += e.promptTokens;
      g.c += e.completionTokens;
      g.k += e.cachedTokens;
      g.cost += e.costEur;
      g.total += e.totalMs;
      g.up += e.upstreamMs ?? 0;
      groups.set(key, g);
    }
    // Plain multi-row statements in one transaction: the ORM's unit of work cost more than the writes. The
    // rows go in chunks of a few fixed sizes, so the prepared statements stay few (see multiRowInserts).
    const eventColumns =
      "license_id, customer_id, provider, model, endpoint, prompt_tokens, completion_tokens, cached_tokens, cost_eur, price_snapshot, estimated, byok, upstream_ms, total_ms, outcome, error_code, client_ip, user_agent, created_at";
    const eventRow = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    const events = batch.map((e) => [
      e.licenseId,
      e.customerId,
      e.provider,
      e.model.slice(0, 100),
      e.endpoint,
      e.promptTokens,
      e.completionTokens,
      e.cachedTokens,
      roundEur(e.costEur),
      e.priceSnapshot == null ? null : JSON.stringify(e.priceSnapshot),
      e.estimated ? 1 : 0,
      e.byok ? 1 : 0,
      e.upstreamMs == null ? null : Math.round(e.upstreamMs),
      Math.round(e.totalMs),
      e.outcome,
      e.errorCode,
      e.clientIp,
      e.userAgent?.slice(0, 255) ?? null,
      sqlDate(this.db, e.createdAt),
    ]);
    const now = sqlDate(this.db, new Date());
    const rows = [...groups.values()];
    const dailyRow = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    const daily = rows.map((g) => [
      g.e.licenseId, g.day, g.e.provider, g.e.model.slice(0, 100), g.e.endpoint, g.n, g.errors, g.p, g.c, g.k, roundEur(g.cost), g.total, g.up, now,
    ]);
    const columns = "license_id, day, provider, model, endpoint, requests, errors, prompt_tokens, completion_tokens, cached_tokens, cost_eur, total_ms_sum, upstream_ms_sum, updated_at";
    const sums = ["requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "cost_eur", "total_ms_sum", "upstream_ms_sum"];
    const upsert =
      this.db.dialect === "sqlite"
        ? `on conflict(license_id, day, provider, model, endpoint) do update set ${sums.map((c) => `${c} = usage_daily.${c} + excluded.${c}`).join(", ")}, updated_at = excluded.updated_at`
        : `on duplicate key update ${sums.map((c) => `${c} = ${c} + values(${c})`).join(", ")}, updated_at = values(updated_at)`;
    const statements = [
      ...multiRowInserts(`insert into usage_events (${eventColumns}) values`, eventRow, events),
      ...multiRowInserts(`insert into usage_daily (${columns}) values`, dailyRow, daily, upsert),
    ];
    await rawTransaction(this.db, async (run) => {
      if ((await run("select id from usage_batches where id = ?", [id])).length > 0) return;
      await run("insert into usage_batches (id, events, created_at) values (?, ?, ?)", [id, batch.length, now], "run");
      for (const { sql, params } of statements) await run(sql, params, "run");
    });
  }
}

/** The price table, read through a short cache (prices change rarely, every call reads one). */
export class DbPriceTable implements PriceTable {
  private cache: { at: number; prices: ModelPrice[] } | null = null;
  constructor(private readonly db: Db, private readonly cacheMs = 30_000) {}

  async list(): Promise<ModelPrice[]> {
    if (this.cache && Date.now() - this.cache.at < this.cacheMs) return this.cache.prices;
    const rows = await this.db.orm.em.fork().find(ModelPriceRow, {}, { orderBy: { provider: "asc", model: "asc", effectiveFrom: "asc" } });
    const prices = rows.map((r) => ({
      provider: r.provider as ProviderName,
      model: r.model,
      inputEurPerMTok: Number(r.inputEurPerMTok),
      outputEurPerMTok: Number(r.outputEurPerMTok),
      cachedInputEurPerMTok: Number(r.cachedInputEurPerMTok),
      effectiveFrom: r.effectiveFrom,
    }));
    this.cache = { at: Date.now(), prices };
    return prices;
  }

  async priceFor(provider: ProviderName, model: string, at: Date): Promise<ModelPrice | null> {
    return pickPrice(await this.list(), provider, model, at);
  }

  /** Adds a price (effective from its date on); earlier prices stay for the events charged at them. */
  async add(price: ModelPrice, now: Date): Promise<void> {
    const em = this.db.orm.em.fork();
    em.create(ModelPriceRow, { ...price, createdAt: now });
    await em.flush();
    this.cache = null;
  }

  /** Seeds the published prices on a first start (an empty table only). */
  async seed(prices: Array<Omit<ModelPrice, "effectiveFrom">>, effectiveFrom: Date, now: Date): Promise<number> {
    const em = this.db.orm.em.fork();
    if ((await em.count(ModelPriceRow, {})) > 0) return 0;
    for (const p of prices) em.create(ModelPriceRow, { ...p, effectiveFrom, createdAt: now });
    await em.flush();
    this.cache = null;
    return prices.length;
  }
}

/** Provider keys, sealed with the keyring; vendor keys are cached briefly in memory (read on every call). */
export class DbProviderKeys implements ProviderKeys {
  private vendorCache = new Map<string, { at: number; key: UsableKey | null }>();
  constructor(private readonly db: Db, private readonly keyring: Keyring, private readonly cacheMs = 10_000) {}

  async vendorKey(provider: ProviderName): Promise<UsableKey | null> {
    const cached = this.vendorCache.get(provider);
    if (cached && Date.now() - cached.at < this.cacheMs) return cached.key;
    const row = await this.db.orm.em.fork().findOne(ProviderKeyRow, { owner: "vendor", provider });
    const key = row ? { apiKey: await this.keyring.open(row.keySealed, providerKeyContext(provider)), baseUrl: row.baseUrl ?? null } : null;
    this.vendorCache.set(provider, { at: Date.now(), key });
    return key;
  }

  async customerKey(customerId: number, provider: ProviderName): Promise<string | null> {
    // Plain SQL: every chat call asks whether its customer brought a key.
    const rows = await rawQuery(this.db, "select key_sealed from provider_keys where owner = ? and provider = ?", [`customer:${customerId}`, provider]);
    return rows[0] ? this.keyring.open(String(rows[0].key_sealed), providerKeyContext(provider)) : null;
  }

  async setCustomerKey(customerId: number, provider: ProviderName, apiKey: string, now: Date): Promise<void> {
    const em = this.db.orm.em.fork();
    const sealed = await this.keyring.seal(apiKey, providerKeyContext(provider));
    const existing = await em.findOne(ProviderKeyRow, { owner: `customer:${customerId}`, provider });
    if (existing) {
      existing.keySealed = sealed;
      existing.last4 = apiKey.slice(-4);
      existing.updatedAt = now;
    } else {
      em.create(ProviderKeyRow, {
        owner: `customer:${customerId}`,
        customer: customerId,
        provider,
        keySealed: sealed,
        last4: apiKey.slice(-4),
        baseUrl: null,
        createdAt: now,
        updatedAt: now,
      });
    }
    await em.flush();
  }

  async deleteCustomerKey(customerId: number, provider: ProviderName): Promise<boolean> {
    return (await this.db.orm.em.fork().nativeDelete(ProviderKeyRow, { owner: `customer:${customerId}`, provider })) > 0;
  }

  async listCustomerKeys(customerId: number): Promise<StoredKeyInfo[]> {
    const rows = await this.db.orm.em.fork().find(ProviderKeyRow, { owner: `customer:${customerId}` }, { orderBy: { provider: "asc" } });
    return rows.map((r) => ({ provider: r.provider as ProviderName, last4: r.last4, createdAt: r.createdAt }));
  }
}
