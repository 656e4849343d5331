/**
 * The model: configs ({@link dev.tessera.model.GptConfig}), layers with explicit forward and
 * backward over the kernels' {@code Backend} ({@code layers}), AdamW and the LR schedule
 * ({@code optim}), tokenizers and data sources ({@code data}), and the single-worker training
 * step ({@code train}). Knows nothing of ranks, Hazelcast or Spark.
 */
package dev.tessera.model;
