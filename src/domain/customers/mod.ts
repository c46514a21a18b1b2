/** Public face of the customers module: customer shapes, e-mail rules and the Customers port. */
export type { Customer, Customers, CustomerStatus, NewCustomer } from "./_types.ts";
export { nameFromEmail, newCustomerFromEmail, normalizeEmail } from "./_email.ts";
