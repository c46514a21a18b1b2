// Files imported `with { type: "text" }` to embed them in the binary: their value is their text. (Imported
// `with { type: "file" }`, as the Swagger UI files are, the value is a path to read instead: a string too.)
declare module "*.css" {
  const text: string;
  export default text;
}
declare module "htmx.org/dist/htmx.min.js" {
  const text: string;
  export default text;
}
declare module "*/templates/assets/admin.js" {
  const text: string;
  export default text;
}
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const text: string;
  export default text;
}
