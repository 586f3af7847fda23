// What a reconciler reads of an informer's cache. Informer implements it; a unit test fakes it with a Map.
export interface CacheReader<T> {
  get(namespace: string, name: string): T | undefined;
  /** Every cached object, or a namespace's. */
  list(namespace?: string): T[];
}
