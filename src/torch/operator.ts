/**
 * Operators by ATen schema name, resolved on first use and cached, so a call costs one boxed dispatcher call and no
 * schema look-up. This module knows nothing of the Tensor class, so that tensor.ts and the typed operators can both
 * build on it without importing each other in a circle.
 */
import { native, type OperatorHandle } from './native.js';

/** An ATen operator, named with its overload (e.g. `aten::add.Tensor`), resolved lazily. */
export class Op {
  private id: OperatorHandle = -1;

  /** @param name the qualified schema name, `namespace::name.overload` */
  constructor(readonly name: string) {}

  /** The binding's handle; the first use resolves the schema and throws if libtorch has no such operator. */
  get handle(): OperatorHandle {
    if (this.id < 0) this.id = native.findOperator(this.name);
    return this.id;
  }

  /** The operator's schema string, e.g. for documentation. */
  get schema(): string {
    return native.operatorSchema(this.handle);
  }
}
