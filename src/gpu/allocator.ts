/**
 * GPU memory ownership: an {@linkcode Allocator} creates every buffer and
 * uniform block of one owner (a graph, an op, a stage) and frees them all
 * at once. Allocators nest: an op builds into a scope of the graph's
 * allocator, `op.destroy()` frees the scope, and the graph's `destroy()`
 * frees the root with every scope still open. Buffers are counted by
 * {@linkcode gpuMemory} when created and when freed, so its `liveBytes` is
 * exact as long as nothing calls `GPUBuffer.destroy()` directly.
 *
 * @module
 */

import type { Gpu } from "./device.ts";
import { createBuffer, destroyBuffer, STORAGE_USAGE } from "./buffers.ts";
import { ParamBlock } from "./kernel.ts";

/**
 * Owns GPU buffers and uniform blocks; frees them on {@linkcode Allocator.destroy}.
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { Allocator } from "./allocator.ts";
 * import { gpuMemory } from "./buffers.ts";
 * const gpu = await acquireGpu();
 * const before = gpuMemory(gpu).liveBytes;
 * const root = new Allocator(gpu, "graph");
 * root.buffer("x", 1024);
 * root.scope("op").uniform("op dims", [1, 2, 3, 4]);
 * if (root.liveBytes !== 1024 + 16) throw new Error(String(root.liveBytes));
 * root.destroy();
 * if (gpuMemory(gpu).liveBytes !== before) throw new Error("leaked");
 * ```
 */
export class Allocator {
  readonly #buffers = new Set<GPUBuffer>();
  readonly #blocks = new Set<ParamBlock>();
  readonly #scopes = new Set<Allocator>();
  readonly #parent: Allocator | null;
  #placeholder: GPUBuffer | null = null;
  #destroyed = false;

  /**
   * @param gpu the device
   * @param label the owner's name, for error messages
   * @param parent the allocator this one is a scope of (see {@linkcode Allocator.scope})
   */
  constructor(readonly gpu: Gpu, readonly label = "allocator", parent: Allocator | null = null) {
    this.#parent = parent;
  }

  /**
   * A child allocator, freed with this one (or alone, by its own `destroy()`).
   *
   * @param label the child owner's name
   * @returns the scope
   */
  scope(label: string): Allocator {
    this.#alive();
    const child = new Allocator(this.gpu, label, this);
    this.#scopes.add(child);
    return child;
  }

  /**
   * Creates a buffer owned by this allocator (see {@linkcode createBuffer}).
   *
   * @param label name shown in WebGPU error messages
   * @param data contents, or a size in bytes for a zero-filled buffer
   * @param usage usage flags (default: storage + copy both ways)
   * @returns the buffer
   */
  buffer(label: string, data: ArrayBufferView | number, usage: number = STORAGE_USAGE): GPUBuffer {
    this.#alive();
    const buffer = createBuffer(this.gpu, label, data, usage);
    this.#buffers.add(buffer);
    return buffer;
  }

  /**
   * Creates a uniform block owned by this allocator (see {@linkcode ParamBlock}).
   *
   * @param label name for error messages
   * @param values initial values
   * @returns the block
   */
  uniform(label: string, values: number[]): ParamBlock {
    this.#alive();
    const block = new ParamBlock(this.gpu, label, values);
    this.#blocks.add(block);
    return block;
  }

  /**
   * A 16-byte read-only storage buffer to bind where a kernel's optional
   * input is unused (WebGPU requires every declared binding to be bound),
   * one per allocator.
   *
   * @returns the placeholder
   */
  placeholder(): GPUBuffer {
    this.#placeholder ??= this.buffer(`${this.label} unused binding`, 16, GPUBufferUsage.STORAGE);
    return this.#placeholder;
  }

  /**
   * Frees one buffer or block this allocator (not a scope of it) created.
   *
   * @param resource the buffer or block
   */
  release(resource: GPUBuffer | ParamBlock): void {
    if (resource instanceof ParamBlock) {
      if (!this.#blocks.delete(resource)) throw new Error(this.#foreign(resource.buffer));
      resource.destroy();
      return;
    }
    if (!this.#buffers.delete(resource)) throw new Error(this.#foreign(resource));
    if (resource === this.#placeholder) this.#placeholder = null;
    destroyBuffer(this.gpu, resource);
  }

  /** Bytes this allocator and its open scopes hold. */
  get liveBytes(): number {
    let bytes = 0;
    for (const b of this.#buffers) bytes += b.size;
    for (const p of this.#blocks) bytes += p.buffer.size;
    for (const s of this.#scopes) bytes += s.liveBytes;
    return bytes;
  }

  /** Whether {@linkcode Allocator.destroy} has run. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Frees everything this allocator and its scopes hold; idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    for (const s of [...this.#scopes]) s.destroy();
    for (const b of this.#buffers) destroyBuffer(this.gpu, b);
    for (const p of this.#blocks) p.destroy();
    this.#buffers.clear();
    this.#blocks.clear();
    this.#placeholder = null;
    this.#destroyed = true;
    if (this.#parent) this.#parent.#scopes.delete(this);
  }

  #alive(): void {
    if (this.#destroyed) {
      throw new Error(`Allocator '${this.label}': expected a live allocator, found it destroyed`);
    }
  }

  #foreign(buffer: GPUBuffer): string {
    return `Allocator '${this.label}': expected a resource it created, found '${buffer.label}'`;
  }
}

/**
 * The allocator an op builds into: a scope of `parent` when given, else a
 * new root (so an op built alone still frees everything on `destroy()`).
 *
 * @param gpu the device
 * @param label the op's label
 * @param parent the owner's allocator, if any
 * @returns the op's own allocator
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { Allocator, scopeOf } from "./allocator.ts";
 * const gpu = await acquireGpu();
 * const root = new Allocator(gpu);
 * const mine = scopeOf(gpu, "matmul", root);
 * mine.buffer("scratch", 64);
 * root.destroy();
 * if (!mine.destroyed) throw new Error("the scope outlived its parent");
 * ```
 */
export function scopeOf(gpu: Gpu, label: string, parent?: Allocator): Allocator {
  return parent ? parent.scope(label) : new Allocator(gpu, label);
}
