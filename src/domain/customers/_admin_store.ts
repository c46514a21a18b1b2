/** Admin-side customer rules: what an admin may type into a customer's record, and the store that writes it. */
import { DomainError } from "../shared/mod.ts";
import { normalizeEmail, nameFromEmail } from "./_email.ts";
import type { Customer, NewCustomer } from "./_types.ts";

/** What deleting a customer takes with it (the database cascades these rows). */
export interface CustomerImpact {
  licenses: number;
  activeSites: number;
  usageEvents: number;
}

/** Port: writes of customer records by admins; `insert`/`update` throw conflict (field "email") on a taken address. */
export interface CustomerStore {
  insert(data: NewCustomer, now: Date): Promise<Customer>;
  update(id: number, data: NewCustomer, now: Date): Promise<Customer | null>;
  remove(id: number): Promise<boolean>;
  impact(id: number): Promise<CustomerImpact>;
}

const MAX_NAME = 200;
const MAX_COMPANY = 200;
const MAX_NOTES = 10_000;

function text(value: unknown, field: string, max: number): string {
  if (value == null) return "";
  if (typeof value !== "string") throw new DomainError("invalid_argument", `${field} must be text`, { field });
  const trimmed = value.trim();
  if (trimmed.length > max) throw new DomainError("invalid_argument", `${field} is longer than ${max} characters`, { field });
  return trimmed;
}

/** A customer record from loose admin input: a valid e-mail is required, the name defaults to its local part. */
export function parseCustomerDetails(input: { email?: unknown; name?: unknown; company?: unknown; notes?: unknown }): NewCustomer {
  const rawEmail = text(input.email, "email", 254);
  if (rawEmail === "") throw new DomainError("invalid_argument", "E-mail is required", { field: "email" });
  const email = normalizeEmail(rawEmail);
  if (email === null) throw new DomainError("invalid_argument", "Invalid e-mail address", { field: "email" });
  const name = text(input.name, "name", MAX_NAME);
  const company = text(input.company, "company", MAX_COMPANY);
  const notes = text(input.notes, "notes", MAX_NOTES);
  return { email, name: name || nameFromEmail(email), company: company || null, notes: notes || null };
}
