// A bounded LRU map whose evicted values are handed to a disposer (used to zero unwrapped key material).

export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  constructor(
    private readonly capacity: number,
    private readonly dispose: (value: V) => void = () => {},
  ) {}

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    const old = this.map.get(key);
    if (old !== undefined && old !== value) this.dispose(old);
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.capacity) {
      const [k, v] = this.map.entries().next().value as [K, V];
      this.map.delete(k);
      this.dispose(v);
    }
  }

  delete(key: K): void {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.dispose(v);
    }
  }

  clear(): void {
    for (const v of this.map.values()) this.dispose(v);
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}
