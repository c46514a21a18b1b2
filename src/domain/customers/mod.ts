/** Public face of the customers module: customer shapes, e-mail rules and the Customers port. */
export type { Customer, Customers, CustomerStatus, NewCustomer } from "./_types.ts";
export { nameFromEmail, newCustomerFromEmail, normalizeEmail } from "./_email.ts";
export { parseCustomerDetails, type CustomerImpact, type CustomerStore } from "./_admin_store.ts";
export { createCustomer } from "./create_customer.ts";
export { updateCustomer } from "./update_customer.ts";
export { deleteCustomer } from "./delete_customer.ts";
