/** Types of the customers module; re-exported by mod.ts. */

/** Whether a customer may use their licenses; disabling is reversible, unlike deletion. */
export type CustomerStatus = "active" | "disabled";

/** A customer as stored; `email` is always in the canonical form of normalizeEmail. */
export interface Customer {
  id: number;
  email: string;
  name: string;
  company: string | null;
  notes: string | null;
  status: CustomerStatus;
  createdAt: Date;
  updatedAt: Date;
}

/** What it takes to create a customer. */
export interface NewCustomer {
  email: string;
  name: string;
  company?: string | null;
  notes?: string | null;
}

/** Port: customer storage; lookups take canonical e-mails. */
export interface Customers {
  findByEmail(email: string): Promise<Customer | null>;
  byId(id: number): Promise<Customer | null>;
  /** Atomic in the adapter, so two concurrent purchases by one address yield one customer. */
  findOrCreate(data: NewCustomer, now: Date): Promise<{ customer: Customer; created: boolean }>;
  list(options: { offset: number; limit: number; search?: string }): Promise<{ items: Customer[]; total: number }>;
}
