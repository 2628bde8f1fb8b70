// OpenAPI links from a POST's answer to the operations its `id` feeds, so clients, SDK generators and
// stateful fuzzers can follow a created resource without guessing.

/** One link per operation, each taking `id` from the response body's `id`. */
export function linksById(what: string, operations: Record<string, string>) {
  return Object.fromEntries(
    Object.entries(operations).map(([name, operationId]) => [
      name,
      { operationId, parameters: { id: '$response.body#/id' }, description: `${what} this response created` },
    ]),
  );
}
