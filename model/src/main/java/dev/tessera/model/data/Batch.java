package dev.tessera.model.data;

/** A batch of token windows: ids and next-token targets, [batch, block] row-major. */
public record Batch(int batch, int block, int[] ids, int[] targets) {
}
