// Bulk license import: RFC 4180 parsing, per-row validation and formula-safe CSV cells.
import { describe, expect, test } from "bun:test";
import { BULK_IMPORT_MAX_ROWS, csvCell, csvLine, parseCsv, planBulkImport } from "../../src/domain/licensing/mod.ts";

const plans = new Set(["starter", "pro", "founders"]);
const exists = (name: string) => plans.has(name);
const HEADER = "email,plan,months,lifetime,domain";

describe("parseCsv", () => {
  test("quotes, escaped quotes, commas and newlines inside quotes, CRLF and a BOM", () => {
    const text = '\ufeffa,b,c\r\n"x, y","say ""hi""","line1\r\nline2"\r\nlast,,\n';
    expect(parseCsv(text)).toEqual([
      ["a", "b", "c"],
      ["x, y", 'say "hi"', "line1\r\nline2"],
      ["last", "", ""],
    ]);
  });
  test("no trailing newline, blank lines skipped", () => {
    expect(parseCsv("a,b\n\nc,d")).toEqual([["a", "b"], ["c", "d"]]);
  });
  test("an unterminated quote is an error", () => {
    expect(() => parseCsv('a,"b\n')).toThrow(/Unterminated/);
  });
});

describe("planBulkImport", () => {
  test("valid rows become terms; header order and case do not matter", () => {
    const plan = planBulkImport("Plan,EMAIL,domain,lifetime,months\npro,A@Example.com,https://Shop.example.com/x,,12\nfounders,b@example.com,,yes,\n", exists);
    expect(plan.errors).toEqual([]);
    expect(plan.total).toBe(2);
    expect(plan.rows).toEqual([
      { row: 1, email: "a@example.com", plan: "pro", term: { months: 12 }, domain: "shop.example.com" },
      { row: 2, email: "b@example.com", plan: "founders", term: { lifetime: true }, domain: null },
    ]);
  });
  test("every bad field is reported with its row", () => {
    const text = [HEADER, "not-an-email,gold,0,,", "ok@example.com,pro,121,,", "ok2@example.com,pro,abc,,", "ok3@example.com,pro,3,yes,", "ok4@example.com,pro,,maybe,", "ok5@example.com,pro,,,", "ok6@example.com,pro,1,,not a host!"].join("\r\n");
    const plan = planBulkImport(text, exists);
    expect(plan.rows).toEqual([]);
    const got = plan.errors.map((e) => `${e.row}:${e.field}`);
    expect(got).toEqual(["1:email", "1:plan", "1:months", "2:months", "3:months", "4:months", "5:lifetime", "6:months", "7:domain"]);
  });
  test("header required, empty file, missing columns, too many rows, too large", () => {
    expect(planBulkImport("", exists).errors[0]).toMatchObject({ row: 0, field: "file" });
    expect(planBulkImport("email,plan\nx@example.com,pro", exists).errors[0].message).toMatch(/months, lifetime, domain/);
    expect(planBulkImport(HEADER + "\n", exists).errors[0].message).toMatch(/no data rows/);
    const many = [HEADER, ...Array.from({ length: BULK_IMPORT_MAX_ROWS + 1 }, (_, i) => `u${i}@example.com,pro,1,,`)].join("\n");
    expect(planBulkImport(many, exists).errors[0].message).toMatch(/Too many rows/);
    const ok = [HEADER, ...Array.from({ length: BULK_IMPORT_MAX_ROWS }, (_, i) => `u${i}@example.com,pro,1,,`)].join("\n");
    expect(planBulkImport(ok, exists).rows.length).toBe(BULK_IMPORT_MAX_ROWS);
    expect(planBulkImport(HEADER + "\n" + "x".repeat(1024 * 1024), exists).errors[0].message).toMatch(/1 MiB/);
  });
});

describe("csv export cells", () => {
  test("formula injection is neutralised and RFC 4180 quoting applied", () => {
    expect(csvCell("=SUM(A1)")).toBe("'=SUM(A1)");
    expect(csvCell("+1")).toBe("'+1");
    expect(csvCell("-1")).toBe("'-1");
    expect(csvCell("@x")).toBe("'@x");
    expect(csvCell('a,"b"')).toBe('"a,""b"""');
    expect(csvCell(null)).toBe("");
    expect(csvCell(42)).toBe("42");
    expect(csvLine(["a", "b\nc"])).toBe('a,"b\nc"\r\n');
  });
});
