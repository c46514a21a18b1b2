// Whole-database reads for the security tests: every table of the run's dialect, every row as text (to look
// for secrets in clear), and row counts (to prove hostile input dropped or emptied nothing).
import type { Db } from "../../src/adapters/db/orm.ts";

type Row = Record<string, unknown>;

function connection(db: Db) {
  return db.orm.em.getConnection();
}

/** The names of every table in the database, sorted (the migrations' bookkeeping tables included). */
export async function tableNames(db: Db): Promise<string[]> {
  const mariadb = db.dialect === "mariadb";
  const rows = (await connection(db).execute(
    mariadb
      ? "select table_name as name from information_schema.tables where table_schema = database() and table_type = 'BASE TABLE'"
      : "select name from sqlite_master where type = 'table' and name not like 'sqlite\\_%' escape '\\'",
  )) as Row[];
  return rows.map((r) => String(r.name ?? r.NAME ?? r.TABLE_NAME)).sort();
}

/** A cell as text: bytes as UTF-8 and as hex, dates as ISO, JSON as its text. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (value instanceof Uint8Array) return `${Buffer.from(value).toString("utf8")} ${Buffer.from(value).toString("hex")}`;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "object") return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? String(v) : v));
  return String(value);
}

/** One cell of the dump, named by table, column and row. */
export interface DumpCell {
  table: string;
  column: string;
  row: number;
  text: string;
}

/** Every column of every row of every table, as text. */
export async function dumpDatabase(db: Db): Promise<DumpCell[]> {
  const cells: DumpCell[] = [];
  for (const table of await tableNames(db)) {
    // Names come from the catalogue, never from input; backticks quote on both dialects.
    const rows = (await connection(db).execute(`select * from \`${table}\``)) as Row[];
    rows.forEach((row, index) => {
      for (const [column, value] of Object.entries(row)) cells.push({ table, column, row: index, text: cellText(value) });
    });
  }
  return cells;
}

/** Rows per table. */
export async function rowCounts(db: Db): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of await tableNames(db)) {
    const rows = (await connection(db).execute(`select count(*) as n from \`${table}\``)) as Row[];
    counts[table] = Number(rows[0]?.n ?? 0);
  }
  return counts;
}
