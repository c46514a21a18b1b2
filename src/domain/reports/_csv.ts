/** CSV for spreadsheets: RFC 4180 quoting and protection against formula injection. */

/**
 * One CSV cell. Text starting with = + - @ (or a tab / carriage return) gets a leading apostrophe so a
 * spreadsheet shows it instead of running it; text with a comma, quote or line break is quoted, quotes
 * doubled. Numbers are written as they are.
 */
export function csvCell(value: string | number | null | undefined): string {
  if (value == null) return "";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "";
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** A CSV document: rows of cells joined with commas, lines ended with CRLF (RFC 4180). */
export function csvDocument(rows: ReadonlyArray<ReadonlyArray<string | number | null | undefined>>): string {
  return rows.map((row) => row.map(csvCell).join(",") + "\r\n").join("");
}
