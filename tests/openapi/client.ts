// A typed dropline client on the types openapi-typescript generates from /openapi.json.
// `tsc --strict` compiling this file proves the document makes usable types: every
// operation reachable by path and method, closed sets as string unions, nullable fields
// typed as such, and the error envelope one type.
import createClient from "openapi-fetch";
import type { components, operations, paths } from "./generated/dropline.js";

type Schemas = components["schemas"];
export type Product = Schemas["Product"];
export type Round = Schemas["Round"];
export type Order = Schemas["Order"];
export type ApiError = Schemas["ErrorBody"];

/** A client for one dropline server; `token` is a bearer JWT. */
export function dropline(baseUrl: string, token?: string) {
  return createClient<paths>({
    baseUrl,
    headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
  });
}

/** Every closed set is a union the compiler checks exhaustively. */
export function roundFinished(status: Round["status"]): boolean {
  switch (status) {
    case "IN_PROGRESS":
      return false;
    case "COMPLETED":
    case "CANCELED_BY_SOLD_OUT":
    case "CANCELED_BY_ERROR":
      return true;
    default: {
      const unknown: never = status;
      return unknown;
    }
  }
}

export function orderOpen(status: Order["status"]): boolean {
  switch (status) {
    case "RESERVED":
      return true;
    case "PAID":
    case "CANCELED":
    case "EXPIRED":
      return false;
    default: {
      const unknown: never = status;
      return unknown;
    }
  }
}

export function categoryLabel(category: Schemas["BrandCategory"]): string {
  const labels: Record<Schemas["BrandCategory"], string> = {
    camping: "Camping",
    fashion: "Fashion",
    other: "Other",
  };
  return labels[category];
}

/** Always-sent nullable fields are present and typed `T | null`. */
export function saleWindow(p: Product): string {
  const starts: string | null = p.sale_starts_at;
  const ends: string | null = p.sale_ends_at;
  const policy: "restart" | "rotate" = p.line_policy;
  const soldOut: boolean = p.stock_status === "SOLD_OUT";
  return `${starts ?? "now"} to ${ends ?? "open end"} (${policy}${soldOut ? ", sold out" : ""})`;
}

/** Walks every page of the public product list. */
export async function allProducts(client: ReturnType<typeof dropline>): Promise<Product[]> {
  const products: Product[] = [];
  let after: string | undefined;
  for (;;) {
    const { data, error } = await client.GET("/products", {
      params: { query: { limit: 100, after } },
    });
    if (error !== undefined) {
      throw new Error(`${error.error.code}: ${error.error.message}`);
    }
    products.push(...data.items);
    if (data.next === null) {
      return products;
    }
    after = data.next;
  }
}

/** Places an order; a refusal comes back as the typed error envelope. */
export async function placeOrder(
  client: ReturnType<typeof dropline>,
  productId: number,
  quantity: number,
  idempotencyKey: string,
): Promise<Order | ApiError> {
  const body: NonNullable<operations["placeOrder"]["requestBody"]>["content"]["application/json"] = {
    quantity,
  };
  const { data, error } = await client.POST("/products/{id}/orders", {
    params: { path: { id: productId }, header: { "Idempotency-Key": idempotencyKey } },
    body,
  });
  return data ?? error;
}

/** Opens a restock round and reads it back. */
export async function restock(
  client: ReturnType<typeof dropline>,
  productId: number,
  quantity: number,
): Promise<Round> {
  const opened = await client.POST("/products/{id}/notifications/re-stock", {
    params: { path: { id: productId }, query: { wait: true } },
    body: { quantity },
  });
  if (opened.error !== undefined) {
    throw new Error(opened.error.error.code);
  }
  const read = await client.GET("/products/{id}/notifications/rounds/{round}", {
    params: { path: { id: productId, round: opened.data.round } },
  });
  if (read.error !== undefined) {
    throw new Error(read.error.error.code);
  }
  return read.data;
}

export async function createBrand(
  client: ReturnType<typeof dropline>,
  name: string,
  category: Schemas["BrandCategory"],
): Promise<Schemas["Brand"]> {
  const { data, error } = await client.POST("/brands", { body: { name, category } });
  if (error !== undefined) {
    throw new Error(error.error.code);
  }
  return data;
}
