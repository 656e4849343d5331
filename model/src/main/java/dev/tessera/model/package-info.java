/**
 * Model configs, layers with explicit forward/backward over the kernels' {@code Backend}, AdamW and
 * LR schedules, tokenizers and datasets. Knows nothing of ranks, Hazelcast or Spark (issue 3).
 */
package dev.tessera.model;
