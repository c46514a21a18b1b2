/** Bulk license import: RFC 4180 CSV parsing and per-row validation (pure: no I/O, plans passed in). */
import { normalizeEmail } from "../customers/mod.ts";
import { normalizeSiteHost } from "./_sites.ts";
import type { LicenseTerm } from "./_status.ts";

/** At most this many data rows per import. */
export const BULK_IMPORT_MAX_ROWS = 2000;
/** At most this many bytes (UTF-8) of CSV per import. */
export const BULK_IMPORT_MAX_BYTES = 1024 * 1024;
/** The header columns an import needs (any order, case-insensitive). */
export const BULK_IMPORT_COLUMNS = ["email", "plan", "months", "lifetime", "domain"] as const;

/** One error of an import: the 1-based data row (0 for the file itself), the field and the message. */
export interface BulkRowError {
  row: number;
  field: string;
  message: string;
}

/** One valid row, ready to issue. */
export interface BulkImportRow {
  row: number;
  email: string;
  plan: string;
  term: LicenseTerm;
  domain: string | null;
}

/** The outcome of validating an import: the rows (valid ones only) and every error found. */
export interface BulkImportPlan {
  rows: BulkImportRow[];
  errors: BulkRowError[];
  total: number;
}

/** Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF or LF); throws Error on an unterminated quote. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let cell = "";
  let quoted = false;
  let i = 0;
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  while (i < src.length) {
    const ch = src[i];
    if (quoted) {
      if (ch === '"') {
        if (src[i + 1] === '"') {
          cell += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      cell += ch;
      i++;
      continue;
    }
    if (ch === '"' && cell === "") {
      quoted = true;
      i++;
    } else if (ch === ",") {
      record.push(cell);
      cell = "";
      i++;
    } else if (ch === "\r" || ch === "\n") {
      record.push(cell);
      records.push(record);
      record = [];
      cell = "";
      i += ch === "\r" && src[i + 1] === "\n" ? 2 : 1;
    } else {
      cell += ch;
      i++;
    }
  }
  if (quoted) throw new Error("Unterminated quoted field");
  if (cell !== "" || record.length > 0) {
    record.push(cell);
    records.push(record);
  }
  // Blank lines carry no data.
  return records.filter((r) => !(r.length === 1 && r[0].trim() === ""));
}

const TRUE = new Set(["yes", "true", "1", "y"]);
const FALSE = new Set(["", "no", "false", "0", "n"]);

/** Parses and validates an import; `planExists` tells whether a plan name can be issued. */
export function planBulkImport(text: string, planExists: (name: string) => boolean): BulkImportPlan {
  const fileError = (message: string): BulkImportPlan => ({ rows: [], errors: [{ row: 0, field: "file", message }], total: 0 });
  if (new TextEncoder().encode(text).length > BULK_IMPORT_MAX_BYTES) return fileError("The CSV is larger than 1 MiB");
  let records: string[][];
  try {
    records = parseCsv(text);
  } catch (error) {
    return fileError((error as Error).message);
  }
  if (records.length === 0) return fileError("The CSV is empty (a header row is required)");
  const header = records[0].map((h) => h.trim().toLowerCase());
  const missing = BULK_IMPORT_COLUMNS.filter((c) => !header.includes(c));
  if (missing.length > 0) return fileError(`Missing header column(s): ${missing.join(", ")}`);
  const data = records.slice(1);
  if (data.length === 0) return fileError("The CSV has no data rows");
  if (data.length > BULK_IMPORT_MAX_ROWS) return { ...fileError(`Too many rows (${data.length}; at most ${BULK_IMPORT_MAX_ROWS})`), total: data.length };
  const col = Object.fromEntries(BULK_IMPORT_COLUMNS.map((c) => [c, header.indexOf(c)])) as Record<(typeof BULK_IMPORT_COLUMNS)[number], number>;
  const rows: BulkImportRow[] = [];
  const errors: BulkRowError[] = [];
  data.forEach((record, index) => {
    const row = index + 1;
    const get = (c: keyof typeof col) => (record[col[c]] ?? "").trim();
    const rowErrors: BulkRowError[] = [];
    const email = normalizeEmail(get("email"));
    if (!email) rowErrors.push({ row, field: "email", message: "Invalid e-mail address" });
    const plan = get("plan").toLowerCase();
    if (!plan) rowErrors.push({ row, field: "plan", message: "Plan is required" });
    else if (!planExists(plan)) rowErrors.push({ row, field: "plan", message: `Unknown plan: ${plan}` });
    const lifetimeRaw = get("lifetime").toLowerCase();
    const monthsRaw = get("months");
    let term: LicenseTerm | null = null;
    if (!TRUE.has(lifetimeRaw) && !FALSE.has(lifetimeRaw)) {
      rowErrors.push({ row, field: "lifetime", message: "lifetime must be yes/true/1 or empty" });
    } else if (TRUE.has(lifetimeRaw)) {
      if (monthsRaw !== "") rowErrors.push({ row, field: "months", message: "Give months or lifetime, not both" });
      else term = { lifetime: true };
    } else if (!/^\d{1,3}$/.test(monthsRaw) || Number(monthsRaw) < 1 || Number(monthsRaw) > 120) {
      rowErrors.push({ row, field: "months", message: "months must be a whole number from 1 to 120 (or set lifetime)" });
    } else {
      term = { months: Number(monthsRaw) };
    }
    const domainRaw = get("domain");
    let domain: string | null = null;
    if (domainRaw !== "") {
      domain = normalizeSiteHost(domainRaw);
      if (!domain) rowErrors.push({ row, field: "domain", message: "Not a valid site address" });
    }
    if (rowErrors.length > 0 || !email || !term) errors.push(...rowErrors);
    else rows.push({ row, email, plan, term, domain });
  });
  return { rows, errors, total: data.length };
}

/** One CSV cell for export: formula-injection safe (= + - @ get a leading ') and quoted when needed. */
export function csvCell(value: unknown): string {
  let text = value == null ? "" : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One CSV record (CRLF-terminated, RFC 4180). */
export function csvLine(values: unknown[]): string {
  return `${values.map(csvCell).join(",")}\r\n`;
}
