/** The worker process: joins the cluster, builds its shard, trains its part, checkpoints (issue 7). */
package dev.tessera.worker;
