// The product version reported by health, status and the OpenAPI document.
export const VERSION = "0.1.0";
