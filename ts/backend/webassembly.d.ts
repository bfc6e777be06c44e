// SPDX-License-Identifier: MIT
// The few WebAssembly globals the wasm backend uses: Node has them, but
// @types/node 20 does not declare them and lib.dom would bring a browser's API.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: ArrayBufferView | ArrayBuffer);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
  }
}
