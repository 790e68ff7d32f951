/**
 * A library bound on first use. A failed search is remembered: it lists directories (and may run `ldconfig -p`),
 * too slow to repeat on every call of a host that has no GPU.
 */
export class LazyLibrary<T> {
  private value: T | undefined;
  private error: Error | undefined;

  constructor(private readonly bind: () => T) {}

  /** The bound library; throws the (remembered) error when it cannot be bound. */
  get(): T {
    if (this.value) return this.value;
    if (this.error) throw this.error;
    try {
      this.value = this.bind();
    } catch (e) {
      this.error = e instanceof Error ? e : new Error(String(e));
      throw this.error;
    }
    return this.value;
  }

  /** The library if already bound; never binds. */
  get loaded(): T | undefined {
    return this.value;
  }

  /** True when binding was tried and failed. */
  get failed(): boolean {
    return this.error !== undefined;
  }
}
